//! One voice per cluster: two agents (election + planner + reporter each, as the runtime
//! wires them) against one in-process API server for Leases and Events
//! (`fake_lease_api.rs`). Exactly one Event per problem while both run; the leader killed
//! (tasks aborted, Lease not released), the other takes over once the Lease has expired and
//! publishes what appeared since, without publishing again what the old leader reported.
//! A leader that stops cleanly clears the Lease for the other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::Reporter;
use shadowtap_routes::{
    plan, spawn_election, spawn_planner, Election, LeaseConfig, Plan, PlanConfig, ProblemReporter,
    Released, Store, LEASE_NAME,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fake_lease_api::{serve, Body, FakeApi};
use crate::util::store_with;

const NS: &str = "shadowtap-system";
/// Short Lease timing for the test (whole seconds: Leases count in seconds).
const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_secs(1);
/// Upper bound of every wait: generous against a loaded machine, far below a hang.
const WAIT: Duration = Duration::from_secs(30);

/// A labelled route with `mirror` as its RequestMirror body (YAML, 8 spaces deep).
fn route(name: &str, uid: &str, mirror: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: default
  uid: {uid}
  generation: 1
  labels:
    shadowtap.dev/mirror: enabled
spec:
  parentRefs:
  - group: \"\"
    kind: Service
    name: foo-v1
    port: 8080
  rules:
  - backendRefs:
    - name: foo-v1
      port: 8080
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: foo-v2
          port: 8080
{mirror}"
    )
}

fn store(routes: &[String]) -> Arc<Store> {
    Arc::new(store_with(&routes.join("\n---\n")))
}

fn reasons(p: &Plan) -> Vec<(String, &'static str)> {
    let mut r: Vec<_> = p
        .problems
        .iter()
        .map(|pr| (pr.route.name.clone(), pr.reason.as_str()))
        .collect();
    r.sort();
    r
}

/// One agent: its election, its planner (with its reporter) and the plans it keeps alive.
struct Agent {
    name: &'static str,
    election: Election,
    planner: JoinHandle<()>,
    plans: watch::Receiver<Arc<Plan>>,
}

impl Agent {
    fn start(
        api: &Arc<Mutex<FakeApi>>,
        name: &'static str,
        stores: watch::Receiver<Arc<Store>>,
    ) -> Self {
        let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        tokio::spawn(serve(api.clone(), name, handle));
        let client = kube::Client::new(svc, "default");
        let election = spawn_election(client.clone(), LeaseConfig::new(NS, name, LEASE, RENEW))
            .expect("valid lease configuration");
        let reporter = ProblemReporter::new(
            client,
            Reporter {
                controller: "shadowtap".into(),
                instance: Some(name.into()),
            },
        )
        .follow(election.state.clone());
        let (plans, planner) =
            spawn_planner(stores, name.into(), PlanConfig::default(), Some(reporter));
        Self {
            name,
            election,
            planner,
            plans,
        }
    }

    fn leading(&self) -> bool {
        self.election.state.borrow().leading
    }

    /// Stops the agent as a crash would: nothing released, nothing said.
    fn kill(self) {
        self.election.task.abort();
        self.planner.abort();
    }
}

/// Waits until `cond` holds on the server's state, at most [`WAIT`].
async fn wait_for(api: &Arc<Mutex<FakeApi>>, what: &str, cond: impl Fn(&FakeApi) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        {
            let s = api.lock().unwrap();
            if cond(&s) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; events {:#?}; lease {:#?}",
                s.events,
                s.lease(NS, LEASE_NAME)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Event POSTs made by `agent`, by answer status.
fn event_posts(api: &FakeApi, agent: &str) -> Vec<u16> {
    let mut v: Vec<u16> = api
        .calls
        .iter()
        .filter(|c| c.agent == agent && c.method == Method::POST && c.path.ends_with("/events"))
        .map(|c| c.status)
        .collect();
    v.sort_unstable();
    v
}

fn micro_time(lease: &serde_json::Value, field: &str) -> Timestamp {
    lease["spec"][field]
        .as_str()
        .unwrap_or_else(|| panic!("lease has no {field}: {lease:#}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_problem_and_the_follower_takes_over_without_repeating() {
    let over = route("over-100", "uid-over", "        percent: 150\n");
    let both = route(
        "both-set",
        "uid-both",
        "        percent: 10\n        fraction:\n          numerator: 1\n          denominator: 10\n",
    );
    let first = store(&[over.clone(), both.clone()]);
    assert_eq!(
        reasons(&plan(&first, "node-a", &PlanConfig::default())),
        [
            ("both-set".to_owned(), "percent_and_fraction"),
            ("over-100".to_owned(), "percent_out_of_range")
        ],
        "the routes' problems, as every node plans them"
    );
    let (stores, rx) = watch::channel(first);
    let api = Arc::new(Mutex::new(FakeApi::default()));
    let a = Agent::start(&api, "node-a", rx.clone());
    let b = Agent::start(&api, "node-b", rx.clone());

    // One agent takes the Lease and publishes both problems.
    wait_for(&api, "a holder and both problems published", |s| {
        s.holder(NS, LEASE_NAME).is_some() && s.events.len() >= 2
    })
    .await;
    let holder = api.lock().unwrap().holder(NS, LEASE_NAME).unwrap();
    let (leader, follower) = if holder == a.name { (a, b) } else { (b, a) };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !leader.leading() || follower.leading() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "elections disagree with the Lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Both keep running through several renewals: still one Event per problem, all from the
    // leader; the follower never tried.
    let writes = api.lock().unwrap().lease_writes;
    wait_for(&api, "three more Lease writes", |s| {
        s.lease_writes >= writes + 3
    })
    .await;
    {
        let s = api.lock().unwrap();
        let mut names: Vec<&str> = s.events.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(s.events.len(), 2, "{:#?}", s.events);
        assert_eq!(names.len(), 2, "{:#?}", s.events);
        assert!(
            s.events.iter().all(|e| e.instance == leader.name),
            "{:#?}",
            s.events
        );
        assert_eq!(event_posts(&s, leader.name), [201, 201]);
        assert!(event_posts(&s, follower.name).is_empty());
        assert_eq!(s.holder(NS, LEASE_NAME).as_deref(), Some(leader.name));
    }

    // The leader dies without a word; then a new problem appears.
    let leader_name = leader.name;
    leader.kill();
    // A fresh acquisition by the follower is shown by the holder and by an acquire time after
    // the dead leader's last renewal expired (`leaseTransitions` is the election crate's own
    // bookkeeping and not counted the same way in every race).
    let last_renewal = micro_time(
        &api.lock().unwrap().lease(NS, LEASE_NAME).unwrap(),
        "renewTime",
    );
    let missing = route("missing-mirror", "uid-missing", "        percent: 5\n")
        .replace("name: foo-v2", "name: nowhere");
    stores.send_replace(store(&[over.clone(), both.clone(), missing.clone()]));

    wait_for(&api, "the follower holds the Lease", |s| {
        s.holder(NS, LEASE_NAME).as_deref() == Some(follower.name)
    })
    .await;
    let lease = api.lock().unwrap().lease(NS, LEASE_NAME).unwrap();
    let acquired = micro_time(&lease, "acquireTime");
    assert!(
        acquired >= last_renewal + LEASE,
        "taken over at {acquired}, before the Lease renewed at {last_renewal} expired"
    );

    wait_for(&api, "the new problem published", |s| s.events.len() >= 3).await;
    // A problem appearing under the new leader is published too.
    let fraction = route(
        "zero-denominator",
        "uid-zero",
        "        fraction:\n          numerator: 0\n          denominator: 0\n",
    );
    stores.send_replace(store(&[over, both, missing, fraction]));
    wait_for(&api, "the fourth problem published", |s| {
        s.events.len() >= 4
    })
    .await;

    // Through a few more renewals: nothing published twice.
    let writes = api.lock().unwrap().lease_writes;
    wait_for(&api, "two more Lease writes, four Event requests", |s| {
        s.lease_writes >= writes + 2 && event_posts(s, follower.name).len() >= 4
    })
    .await;
    let s = api.lock().unwrap();
    let mut by_route: Vec<(String, String, String)> = s
        .events
        .iter()
        .map(|e| (e.regarding.clone(), e.reason.clone(), e.instance.clone()))
        .collect();
    by_route.sort();
    assert_eq!(
        by_route,
        [
            (
                "default/both-set".into(),
                "PercentAndFraction".into(),
                leader_name.into()
            ),
            (
                "default/missing-mirror".into(),
                "ServiceNotFound".into(),
                follower.name.into()
            ),
            (
                "default/over-100".into(),
                "PercentOutOfRange".into(),
                leader_name.into()
            ),
            (
                "default/zero-denominator".into(),
                "DenominatorTooSmall".into(),
                follower.name.into()
            ),
        ]
    );
    // The new leader checked the old problems (AlreadyExists) and created only the new ones.
    assert_eq!(event_posts(&s, follower.name), [201, 201, 409, 409]);
    assert_eq!(event_posts(&s, leader_name), [201, 201]);
    // No request the server did not expect (each answered 2xx or a deliberate 404/409).
    let odd: Vec<_> = s
        .calls
        .iter()
        .filter(|c| !(200..300).contains(&c.status) && c.status != 404 && c.status != 409)
        .collect();
    assert!(odd.is_empty(), "{odd:#?}");
    // Leases are taken by server-side apply (a conflicting apply is refused), each agent
    // under its own field manager.
    for agent in [leader_name, follower.name] {
        let applies = s
            .calls
            .iter()
            .filter(|c| {
                c.agent == agent
                    && c.method == Method::PATCH
                    && c.content_type.starts_with("application/apply-patch")
            })
            .inspect(|c| {
                assert_eq!(
                    c.field_manager.as_deref(),
                    Some(&*format!("shadowtap-{agent}"))
                )
            })
            .count();
        assert!(applies >= 1, "{agent} never applied the Lease");
    }
    drop(s);
    follower.kill();
}

/// A leader stopping cleanly (SIGTERM) clears the Lease: its holder is gone at once, the
/// follower takes it on its next attempt, and a follower's own release touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopping_cleanly_clears_the_lease_for_the_follower() {
    let over = route("over-100", "uid-over", "        percent: 150\n");
    let (_stores, rx) = watch::channel(store(std::slice::from_ref(&over)));
    let api = Arc::new(Mutex::new(FakeApi::default()));
    let a = Agent::start(&api, "node-a", rx.clone());
    let b = Agent::start(&api, "node-b", rx);
    wait_for(&api, "a holder and the problem published", |s| {
        s.holder(NS, LEASE_NAME).is_some() && s.events.len() == 1
    })
    .await;
    let holder = api.lock().unwrap().holder(NS, LEASE_NAME).unwrap();
    let (leader, follower) = if holder == a.name { (a, b) } else { (b, a) };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !leader.leading() || follower.leading() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "elections disagree with the Lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let leader_name = leader.name;
    let state = leader.election.state.clone();
    leader.planner.abort();
    assert_eq!(leader.election.release(WAIT).await, Released::Cleared);
    assert!(
        !state.borrow().leading,
        "still reports leading after the release"
    );
    assert_ne!(
        api.lock().unwrap().holder(NS, LEASE_NAME).as_deref(),
        Some(leader_name),
        "the Lease still names the stopped leader"
    );

    wait_for(&api, "the follower holds the Lease", |s| {
        s.holder(NS, LEASE_NAME).as_deref() == Some(follower.name)
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !follower.leading() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never leads"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The problem was published once; the new leader only checked it.
    wait_for(&api, "the new leader checked the problem", |s| {
        event_posts(s, follower.name) == [409]
    })
    .await;
    assert_eq!(api.lock().unwrap().events.len(), 1);

    // Releasing a follower's election leaves the Lease alone.
    let (_stores, rx) = watch::channel(store(std::slice::from_ref(&over)));
    let c = Agent::start(&api, "node-c", rx);
    let writes = api.lock().unwrap().lease_writes;
    wait_for(&api, "two more renewals by the leader", |s| {
        s.lease_writes >= writes + 2
    })
    .await;
    assert!(!c.leading());
    c.planner.abort();
    assert_eq!(c.election.release(WAIT).await, Released::NotHolder);
    assert_eq!(
        api.lock().unwrap().holder(NS, LEASE_NAME).as_deref(),
        Some(follower.name)
    );
    follower.kill();
}

/// The API server fails the Lease requests: the leader stops publishing (it can no longer
/// tell whether it leads) but keeps planning; once the API answers again it leads again and
/// publishes the problem that appeared meanwhile. Two routes' problems, one Event each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_api_server_pauses_publishing_and_never_planning() {
    let over = route("over-100", "uid-over", "        percent: 150\n");
    let (stores, rx) = watch::channel(store(std::slice::from_ref(&over)));
    let api = Arc::new(Mutex::new(FakeApi::default()));
    let mut agent = Agent::start(&api, "node-a", rx);
    wait_for(&api, "the lone agent publishes", |s| s.events.len() == 1).await;
    assert!(agent.leading());

    api.lock().unwrap().fail_leases = true;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = *agent.election.state.borrow();
        if !state.leading && state.errors >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still leading: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Planning goes on: a new problem is in the next plan, but not published.
    let both = route(
        "both-set",
        "uid-both",
        "        percent: 10\n        fraction:\n          numerator: 1\n          denominator: 10\n",
    );
    stores.send_replace(store(&[over, both]));
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.plans.borrow_and_update().problems.len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the planner stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        api.lock().unwrap().events.len(),
        1,
        "published while not leading"
    );
    assert_eq!(event_posts(&api.lock().unwrap(), "node-a"), [201]);

    // The API server recovers: the agent leads again and publishes only the new problem.
    api.lock().unwrap().fail_leases = false;
    wait_for(
        &api,
        "the new problem published, the old one checked",
        |s| s.events.len() == 2 && event_posts(s, "node-a").len() == 3,
    )
    .await;
    assert!(agent.leading());
    let s = api.lock().unwrap();
    assert_eq!(s.events[1].regarding, "default/both-set");
    // The old problem was checked again after the recovery (AlreadyExists), never duplicated.
    assert_eq!(event_posts(&s, "node-a"), [201, 201, 409]);
    drop(s);
    agent.kill();
}

/// Node-level problems stay each node's: an endpoint reached through two listeners with
/// different mirror settings (`ambiguous_parent`) is seen only by the nodes running those
/// pods, so such a node publishes it even as a follower; a route-level problem is the
/// leader's alone. Still one Event each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_still_publishes_what_only_its_node_sees() {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: infra
spec:
  gatewayClassName: test
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
  - name: https
    port: 443
    protocol: HTTPS
    allowedRoutes:
      namespaces:
        from: All
"
    .to_owned();
    let on_listener = |name: &str, section: &str, labelled: bool, mirror: &str| {
        let labels = if labelled {
            "  labels:\n    shadowtap.dev/mirror: enabled\n"
        } else {
            ""
        };
        format!(
            "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: default
  uid: uid-{name}
  generation: 1
{labels}spec:
  parentRefs:
  - name: gw
    namespace: infra
    sectionName: {section}
  rules:
  - backendRefs:
    - name: foo-v1
      port: 8080
{mirror}"
        )
    };
    let mirror = "    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: foo-v2\n          port: 8080\n        percent: 42\n";
    let docs = [
        gateway,
        on_listener("plain", "http", false, ""),
        on_listener("mirrored", "https", true, mirror),
        route("over-100", "uid-over", "        percent: 150\n"),
    ];
    let st = store(&docs);
    // node-a runs a foo-v1 pod and sees the ambiguity; node-c runs none.
    assert_eq!(
        reasons(&plan(&st, "node-a", &PlanConfig::default())),
        [
            ("mirrored".to_owned(), "ambiguous_parent"),
            ("over-100".to_owned(), "percent_out_of_range")
        ]
    );
    assert_eq!(
        reasons(&plan(&st, "node-c", &PlanConfig::default())),
        [("over-100".to_owned(), "percent_out_of_range")]
    );

    let (_stores, rx) = watch::channel(st);
    let api = Arc::new(Mutex::new(FakeApi::default()));
    // node-c leads (it starts alone), then node-a joins as a follower.
    let c = Agent::start(&api, "node-c", rx.clone());
    wait_for(&api, "node-c leads and publishes", |s| {
        s.holder(NS, LEASE_NAME).as_deref() == Some("node-c") && !s.events.is_empty()
    })
    .await;
    let a = Agent::start(&api, "node-a", rx);
    wait_for(&api, "the node-level problem published", |s| {
        s.events.len() >= 2
    })
    .await;
    let writes = api.lock().unwrap().lease_writes;
    wait_for(&api, "two more Lease writes", |s| {
        s.lease_writes >= writes + 2
    })
    .await;
    assert!(c.leading() && !a.leading());
    let s = api.lock().unwrap();
    let mut events: Vec<(String, String, String)> = s
        .events
        .iter()
        .map(|e| (e.regarding.clone(), e.reason.clone(), e.instance.clone()))
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            (
                "default/mirrored".into(),
                "AmbiguousParent".into(),
                "node-a".into()
            ),
            (
                "default/over-100".into(),
                "PercentOutOfRange".into(),
                "node-c".into()
            ),
        ]
    );
    assert_eq!(
        event_posts(&s, "node-a"),
        [201],
        "the follower published only its node's problem"
    );
    drop(s);
    a.kill();
    c.kill();
}

/// The fake's concurrency control, which the election's safety rests on: a server-side apply
/// that would change a field another manager owns is refused, as is a replace with a stale
/// `resourceVersion`; a merge patch that removes the field frees it.
#[tokio::test]
async fn the_fake_api_refuses_conflicting_writes() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::json;

    let api = Arc::new(Mutex::new(FakeApi::default()));
    let client = |agent: &'static str| {
        let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        tokio::spawn(serve(api.clone(), agent, handle));
        Api::<Lease>::namespaced(kube::Client::new(svc, "default"), NS)
    };
    let (a, b) = (client("a"), client("b"));
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}})).unwrap();
    let created = a.create(&PostParams::default(), &lease).await.unwrap();
    let code = |e: kube::Error| match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("{other}"),
    };
    assert_eq!(
        code(a.create(&PostParams::default(), &lease).await.unwrap_err()),
        (409, "AlreadyExists".into())
    );
    let take = |who: &str| {
        Patch::Apply(
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": who}}),
        )
    };
    a.patch("l", &PatchParams::apply("mgr-a"), &take("a"))
        .await
        .unwrap();
    assert_eq!(
        code(
            b.patch("l", &PatchParams::apply("mgr-b"), &take("b"))
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    // The same value is no conflict; a stale replace is.
    b.patch("l", &PatchParams::apply("mgr-b"), &take("a"))
        .await
        .unwrap();
    assert_eq!(
        code(
            b.replace("l", &PostParams::default(), &created)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    // Released by a merge patch: anyone may take it.
    let release = Patch::Strategic(json!({"spec": {"holderIdentity": null}}));
    b.patch("l", &PatchParams::default(), &release)
        .await
        .unwrap();
    b.patch("l", &PatchParams::apply("mgr-b"), &take("b"))
        .await
        .unwrap();
    assert_eq!(api.lock().unwrap().holder(NS, "l").as_deref(), Some("b"));
}
