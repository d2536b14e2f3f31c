//! The upload size: what `wrangler deploy --dry-run --outdir DIR` reports (`Total Upload: … /
//! gzip: …`, the figure Cloudflare's limits apply to) and the worker's own size budget, the
//! Wasm module gzipped at zlib level 6 (the figure `npm run bench` reports in
//! bench/RESULTS.md).

use crate::checks::{Finding, Verdict};

/// The project's budget for the Wasm module, gzip (zlib level 6), in bytes (bench/RESULTS.md).
pub const WASM_GZIP_BUDGET_BYTES: u64 = 300_000;
/// Cloudflare's script size limit on the Free plan, gzip.
pub const FREE_PLAN_LIMIT_KIB: f64 = 3.0 * 1024.0;
/// Cloudflare's script size limit on paid plans, gzip.
pub const PAID_PLAN_LIMIT_KIB: f64 = 10.0 * 1024.0;

/// wrangler's `Total Upload` line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Upload {
    /// Everything uploaded, KiB.
    pub total_kib: f64,
    /// The same, gzip, KiB.
    pub gzip_kib: f64,
}

fn kib(value: &str, unit: &str) -> Option<f64> {
    let v: f64 = value.trim().parse().ok()?;
    match unit {
        "B" | "bytes" => Some(v / 1024.0),
        "KiB" | "KB" => Some(v),
        "MiB" | "MB" => Some(v * 1024.0),
        _ => None,
    }
}

/// Finds `Total Upload: 785.31 KiB / gzip: 296.02 KiB` in wrangler's output.
pub fn parse_total_upload(output: &str) -> Option<Upload> {
    let line = output.lines().find(|l| l.contains("Total Upload:"))?;
    let rest = line.split("Total Upload:").nth(1)?;
    let (total, gzip) = rest.split_once("/ gzip:")?;
    let mut t = total.split_whitespace();
    let mut g = gzip.split_whitespace();
    Some(Upload {
        total_kib: kib(t.next()?, t.next()?)?,
        gzip_kib: kib(g.next()?, g.next()?)?,
    })
}

/// The size findings: the Wasm budget (refused when over) and the upload against the plans'
/// limits (refused over the paid limit, noted over the free one).
pub fn size(upload: Option<Upload>, wasm_gzip_bytes: Option<u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    match wasm_gzip_bytes {
        Some(b) => {
            let share = b as f64 * 100.0 / WASM_GZIP_BUDGET_BYTES as f64;
            let verdict = if b <= WASM_GZIP_BUDGET_BYTES {
                Verdict::Pass
            } else {
                Verdict::Refuse
            };
            out.push(Finding {
                verdict,
                subject: "wasm size".into(),
                message: format!(
                    "{b} B gzip (zlib 6) of the {WASM_GZIP_BUDGET_BYTES} B budget ({share:.1} %){}",
                    if verdict == Verdict::Refuse {
                        "; over budget: find what grew (bench/README.md), or raise the budget on purpose"
                    } else {
                        ""
                    }
                ),
            });
        }
        None => out.push(Finding {
            verdict: Verdict::Refuse,
            subject: "wasm size".into(),
            message: "no .wasm in the dry-run output to measure".into(),
        }),
    }
    match upload {
        Some(u) => {
            let verdict = if u.gzip_kib > PAID_PLAN_LIMIT_KIB {
                Verdict::Refuse
            } else if u.gzip_kib > FREE_PLAN_LIMIT_KIB {
                Verdict::Note
            } else {
                Verdict::Pass
            };
            out.push(Finding {
                verdict,
                subject: "upload".into(),
                message: format!(
                    "{:.2} KiB, gzip {:.2} KiB (Cloudflare's limit: {} KiB gzip Free, {} KiB paid)",
                    u.total_kib, u.gzip_kib, FREE_PLAN_LIMIT_KIB, PAID_PLAN_LIMIT_KIB
                ),
            });
        }
        None => out.push(Finding {
            verdict: Verdict::Refuse,
            subject: "upload".into(),
            message:
                "`wrangler deploy --dry-run` printed no Total Upload line (see its output above)"
                    .into(),
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wranglers_total_upload_line_is_parsed() {
        let out = "Attaching additional modules:\n┌──\nTotal Upload: 785.31 KiB / gzip: 296.02 KiB\nYour Worker has access to…";
        assert_eq!(
            parse_total_upload(out),
            Some(Upload {
                total_kib: 785.31,
                gzip_kib: 296.02
            })
        );
        let mib = parse_total_upload("Total Upload: 1.50 MiB / gzip: 512.00 KiB").unwrap();
        assert_eq!(mib.total_kib, 1536.0);
        assert_eq!(parse_total_upload("nothing here"), None);
    }

    #[test]
    fn the_wasm_budget_is_enforced_and_reported_as_a_share() {
        let ok = size(
            Some(Upload {
                total_kib: 800.0,
                gzip_kib: 296.0,
            }),
            Some(298_847),
        );
        assert_eq!(ok[0].verdict, Verdict::Pass);
        assert!(
            ok[0]
                .message
                .contains("298847 B gzip (zlib 6) of the 300000 B budget (99.6 %)"),
            "{}",
            ok[0].message
        );
        assert_eq!(ok[1].verdict, Verdict::Pass);
        let over = size(None, Some(300_001));
        assert_eq!(over[0].verdict, Verdict::Refuse);
        assert_eq!(over[1].verdict, Verdict::Refuse);
    }

    #[test]
    fn uploads_over_the_plans_limits_are_noted_or_refused() {
        let free = size(
            Some(Upload {
                total_kib: 9000.0,
                gzip_kib: 3500.0,
            }),
            Some(1),
        );
        assert_eq!(free[1].verdict, Verdict::Note);
        let paid = size(
            Some(Upload {
                total_kib: 30000.0,
                gzip_kib: 11000.0,
            }),
            Some(1),
        );
        assert_eq!(paid[1].verdict, Verdict::Refuse);
    }
}
