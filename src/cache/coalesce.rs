//! Request coalescing: concurrent misses of one key in one isolate send one request to the
//! origin. The first becomes the leader; the others watch its flight until the leader is done
//! (its guard is dropped: response stored, failed, or the request abandoned) and then look the
//! key up again. What the leader stored reaches them through the in-memory tier; when it stored
//! nothing (an uncacheable or failed response) they go to the origin themselves, as Varnish's
//! waiting list and nginx's `proxy_cache_lock` do.
//!
//! Followers are not woken by the leader: on Workers, code resumed from another request's event
//! runs in that request's I/O context, and a response built there cannot be returned by the
//! follower ("Cannot perform I/O on behalf of a different request"). Each follower therefore
//! checks its flight on its own timer (the glue), and this module only keeps the state.
//! Single-threaded (an isolate runs one thing at a time): `Rc`/`Cell`, no locks.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
struct Flight {
    done: Cell<bool>,
    followers: Cell<u32>,
}

/// The misses in flight, by key.
#[derive(Default, Clone)]
pub struct Flights {
    inner: Rc<RefCell<HashMap<String, Rc<Flight>>>>,
}

/// What a request that missed does.
pub enum Role {
    /// Ask the origin; followers are released when the guard is dropped.
    Leader(LeaderGuard),
    /// Watch the leader's flight, then look the key up again.
    Follower(FlightWatch),
}

impl Flights {
    /// Joins the flight for `key`, starting one (as its leader) if there is none.
    pub fn join(&self, key: &str) -> Role {
        let Ok(mut map) = self.inner.try_borrow_mut() else {
            // Never expected (nothing holds the map across a call); lead without a flight
            // rather than panic.
            return Role::Leader(LeaderGuard::detached(key));
        };
        if let Some(flight) = map.get(key) {
            flight
                .followers
                .set(flight.followers.get().saturating_add(1));
            return Role::Follower(FlightWatch {
                flight: flight.clone(),
            });
        }
        let flight = Rc::new(Flight::default());
        map.insert(key.to_string(), flight.clone());
        Role::Leader(LeaderGuard {
            flights: Some(self.clone()),
            key: key.to_string(),
            flight,
        })
    }

    /// Keys with a miss in flight.
    pub fn in_flight(&self) -> usize {
        self.inner.try_borrow().map_or(0, |m| m.len())
    }
}

/// Held by the leader; dropping it (however the leader's request ends) ends the flight.
pub struct LeaderGuard {
    flights: Option<Flights>,
    key: String,
    flight: Rc<Flight>,
}

impl LeaderGuard {
    fn detached(key: &str) -> LeaderGuard {
        LeaderGuard {
            flights: None,
            key: key.to_string(),
            flight: Rc::new(Flight::default()),
        }
    }

    /// How many requests are watching this leader.
    pub fn followers(&self) -> u32 {
        self.flight.followers.get()
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if let Some(flights) = &self.flights {
            if let Ok(mut map) = flights.inner.try_borrow_mut() {
                if map
                    .get(&self.key)
                    .is_some_and(|f| Rc::ptr_eq(f, &self.flight))
                {
                    map.remove(&self.key);
                }
            }
        }
        self.flight.done.set(true);
    }
}

/// A follower's view of the leader's flight.
pub struct FlightWatch {
    flight: Rc<Flight>,
}

impl FlightWatch {
    /// Whether the leader is done.
    pub fn is_done(&self) -> bool {
        self.flight.done.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_miss_leads_the_others_watch_until_it_is_done() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("the first miss leads")
        };
        let followers: Vec<FlightWatch> = (0..3)
            .map(|_| match flights.join("k") {
                Role::Follower(w) => w,
                Role::Leader(_) => panic!("a second miss of the same key follows"),
            })
            .collect();
        assert_eq!(leader.followers(), 3);
        assert!(followers.iter().all(|f| !f.is_done()));
        // Another key is independent.
        assert!(matches!(flights.join("other"), Role::Leader(_)));
        assert_eq!(
            flights.in_flight(),
            1,
            "the other key's guard was dropped at once"
        );

        drop(leader);
        assert!(followers.iter().all(FlightWatch::is_done));
        assert_eq!(flights.in_flight(), 0);
        // The next miss starts a new flight.
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[test]
    fn an_abandoned_leader_still_ends_its_flight() {
        let flights = Flights::default();
        let leader = flights.join("k");
        let Role::Follower(f) = flights.join("k") else {
            panic!("follows")
        };
        assert!(!f.is_done());
        drop(leader); // e.g. the leader's request future dropped mid-flight
        assert!(f.is_done());
        assert_eq!(flights.in_flight(), 0);
    }
}
