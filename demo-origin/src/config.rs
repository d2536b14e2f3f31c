//! Command-line and environment configuration.

use std::fmt;
use std::net::IpAddr;

/// Usage text printed by `--help` and after argument errors.
pub const USAGE: &str =
    "usage: demo-origin [--flavour stable|canary] [--port N] [--host ADDR] [--no-etag]

  --flavour stable|canary  which deployment to imitate (default stable; env DEMO_ORIGIN_FLAVOUR)
  --port N                 port to listen on; 0 picks a free one
                           (default 9001 for stable, 9002 for canary; env DEMO_ORIGIN_PORT)
  --host ADDR              IP address to bind (default 127.0.0.1)
  --no-etag                never send ETag / answer 304 (like today's backend)
  -h, --help               show this help";

/// Which deployment the server imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// The current production deployment.
    Stable,
    /// The canary deployment; adds `"flavour":"canary"` to JSON object bodies.
    Canary,
}

impl Flavour {
    /// Parses `stable` or `canary` (case-insensitive).
    pub fn parse(s: &str) -> Option<Flavour> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stable" => Some(Flavour::Stable),
            "canary" => Some(Flavour::Canary),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Stable => "stable",
            Flavour::Canary => "canary",
        }
    }

    /// The port used when none is given.
    pub fn default_port(self) -> u16 {
        match self {
            Flavour::Stable => 9001,
            Flavour::Canary => 9002,
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Deployment flavour.
    pub flavour: Flavour,
    /// Port (0 = any free port).
    pub port: u16,
    /// Address to bind.
    pub host: IpAddr,
    /// Whether automatic ETags start enabled.
    pub etag: bool,
}

impl Config {
    /// Defaults for `flavour`.
    pub fn new(flavour: Flavour) -> Config {
        Config {
            flavour,
            port: flavour.default_port(),
            host: IpAddr::from([127, 0, 0, 1]),
            etag: true,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Config),
    /// Print usage and exit.
    Help,
}

/// Parses arguments (without the program name); `env` looks up environment variables.
/// Command-line options win over `DEMO_ORIGIN_FLAVOUR` / `DEMO_ORIGIN_PORT`.
pub fn parse<I, F>(args: I, env: F) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Option<String>,
{
    let mut flavour: Option<Flavour> = None;
    let mut port: Option<u16> = None;
    let mut host: Option<IpAddr> = None;
    let mut etag = true;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--flavour" | "--flavor" => {
                let v = value("stable|canary")?;
                flavour = Some(
                    Flavour::parse(&v)
                        .ok_or_else(|| format!("invalid flavour {v:?}: use stable or canary"))?,
                );
            }
            "--port" => port = Some(parse_port(&value("a port number")?)?),
            "--host" => host = Some(parse_host(&value("an IP address")?)?),
            "--no-etag" if inline.is_none() => etag = false,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }

    let flavour = match flavour {
        Some(f) => f,
        None => match env("DEMO_ORIGIN_FLAVOUR").filter(|v| !v.is_empty()) {
            Some(v) => Flavour::parse(&v).ok_or_else(|| {
                format!("invalid DEMO_ORIGIN_FLAVOUR {v:?}: use stable or canary")
            })?,
            None => Flavour::Stable,
        },
    };
    let port = match port {
        Some(p) => p,
        None => match env("DEMO_ORIGIN_PORT").filter(|v| !v.is_empty()) {
            Some(v) => parse_port(&v).map_err(|e| format!("DEMO_ORIGIN_PORT: {e}"))?,
            None => flavour.default_port(),
        },
    };
    let mut config = Config::new(flavour);
    config.port = port;
    config.etag = etag;
    if let Some(h) = host {
        config.host = h;
    }
    Ok(Command::Run(config))
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.trim()
        .parse::<u16>()
        .map_err(|_| format!("invalid port {v:?}: expected 0-65535"))
}

fn parse_host(v: &str) -> Result<IpAddr, String> {
    if v.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    v.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("invalid host {v:?}: expected an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|s| s.to_string()), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Command::Run(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_per_flavour() {
        let c = config(&[], &[]);
        assert_eq!((c.flavour, c.port, c.etag), (Flavour::Stable, 9001, true));
        assert_eq!(c.host.to_string(), "127.0.0.1");
        let c = config(&["--flavour", "canary"], &[]);
        assert_eq!((c.flavour, c.port), (Flavour::Canary, 9002));
    }

    #[test]
    fn options_and_equals_form() {
        let c = config(
            &[
                "--flavour=canary",
                "--port=0",
                "--host",
                "0.0.0.0",
                "--no-etag",
            ],
            &[],
        );
        assert_eq!((c.flavour, c.port, c.etag), (Flavour::Canary, 0, false));
        assert_eq!(c.host.to_string(), "0.0.0.0");
    }

    #[test]
    fn env_applies_but_cli_wins() {
        let env = [
            ("DEMO_ORIGIN_FLAVOUR", "canary"),
            ("DEMO_ORIGIN_PORT", "7000"),
        ];
        let c = config(&[], &env);
        assert_eq!((c.flavour, c.port), (Flavour::Canary, 7000));
        let c = config(&["--flavour", "stable", "--port", "7001"], &env);
        assert_eq!((c.flavour, c.port), (Flavour::Stable, 7001));
    }

    #[test]
    fn errors() {
        assert!(run(&["--flavour", "blue"], &[]).is_err());
        assert!(run(&["--port", "70000"], &[]).is_err());
        assert!(run(&["--port"], &[]).is_err());
        assert!(run(&["--host", "example"], &[]).is_err());
        assert!(run(&["--bogus"], &[]).is_err());
        assert!(run(&[], &[("DEMO_ORIGIN_PORT", "x")]).is_err());
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
    }
}
