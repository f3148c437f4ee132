//! The Kubernetes manifests under `deploy/k8s/` (no cluster runs here): both overlays render with
//! kustomize (`kubectl kustomize`), every object validates against the Kubernetes schemas
//! (`kubernetes-validate --strict`, from PyPI), and what the objects say agrees with the binary:
//! every VODFLOW_* variable is wired (secrets only through the Secret), the ConfigMap parses as a
//! configuration, probes and metrics ports exist, the scratch volume fits the cache budget, and the
//! encoders scale on the transcode queue.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

/// Variables that hold credentials: only ever in the Secret.
const SECRETS: &[&str] = &[
    "VODFLOW_DATABASE_URL",
    "VODFLOW_S3_ACCESS_KEY_ID",
    "VODFLOW_S3_SECRET_ACCESS_KEY",
    "VODFLOW_AUTH_HS256_SECRET",
    "VODFLOW_PLAYBACK_SIGNING_SECRET",
    "VODFLOW_WEBHOOK_SECRET",
    "VODFLOW_SMTP_URL",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Renders an overlay (from a copy: the local overlay's `secrets.env` is generated for the test).
fn render(overlay: &str) -> (String, Vec<Value>) {
    let tmp = std::env::temp_dir().join(format!("vodflow-k8s-{}", common::unique("")));
    copy_dir(Path::new("deploy/k8s"), &tmp);
    let secrets: String = SECRETS
        .iter()
        .map(|k| format!("{k}=test-{}\n", common::unique("")))
        .collect();
    std::fs::write(tmp.join("overlays/local/secrets.env"), secrets).unwrap();
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(tmp.join("overlays").join(overlay))
        .output()
        .expect("kubectl (installed by scripts/install)");
    assert!(
        out.status.success(),
        "kustomize {overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&tmp);
    (text, docs)
}

use serde::Deserialize;

fn validator() -> PathBuf {
    common::cache_dir().join("venv/bin/kubernetes-validate")
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
}

fn quantity_bytes(q: &str) -> u64 {
    let (n, mult) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ]
    .iter()
    .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
    .unwrap_or((q, 1));
    n.parse::<u64>().unwrap() * mult
}

#[test]
fn both_overlays_render_and_validate_against_the_kubernetes_schemas() {
    for overlay in ["local", "production"] {
        let (text, docs) = render(overlay);
        let file =
            std::env::temp_dir().join(format!("vodflow-{overlay}-{}.yaml", common::unique("")));
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(validator())
            .args(["--strict", "--quiet", "-k", "1.32.0"])
            .arg(&file)
            .output()
            .expect("kubernetes-validate (installed by scripts/install)");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&file).unwrap();
        assert!(out.status.success(), "{overlay}: {report}");
        // Only KEDA's custom resource has no built-in schema; it is checked below.
        for line in report
            .lines()
            .filter(|l| l.contains("Couldn't find schema"))
        {
            assert!(line.contains("ScaledObject"), "{overlay}: {line}");
        }
        for kind in [
            "ConfigMap",
            "Deployment",
            "Job",
            "Service",
            "PodDisruptionBudget",
        ] {
            assert!(!of_kind(&docs, kind).is_empty(), "{overlay}: no {kind}");
        }
    }
}

#[test]
fn every_variable_is_wired_and_secrets_never_sit_in_the_configmap() {
    let (_, docs) = render("production");
    let cm = named(&docs, "ConfigMap", "vodflow-config");
    let data = cm["data"].as_mapping().unwrap();
    let keys: Vec<&str> = data.keys().filter_map(Value::as_str).collect();
    for var in vodflow_core::config::VARS {
        let in_cm = keys.contains(&var.name);
        let secret = SECRETS.contains(&var.name);
        assert!(in_cm || secret, "{} is wired nowhere", var.name);
        assert!(
            !(in_cm && secret),
            "{} is a secret but sits in the ConfigMap",
            var.name
        );
    }
    for k in &keys {
        assert!(
            vodflow_core::config::VARS.iter().any(|v| v.name == *k),
            "{k} is not a vodflow variable"
        );
    }
    // The ConfigMap plus the Secret's keys make a configuration the binary accepts.
    let cfg = vodflow_core::Config::from_lookup(|name| {
        data.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| SECRETS.contains(&name).then(|| format!("s3cr3t-{name}")))
    })
    .expect("the ConfigMap is a valid configuration");
    // The transcode scratch volume holds the cache budget plus the free-space floor.
    let tw = named(&docs, "Deployment", "vodflow-transcode-worker");
    let volume = tw["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "work")
        .expect("a work volume");
    let size = quantity_bytes(volume["emptyDir"]["sizeLimit"].as_str().unwrap());
    assert!(
        size >= cfg.work_dir_max_bytes + cfg.work_dir_min_free_bytes,
        "scratch {size} < cache {} + floor {}",
        cfg.work_dir_max_bytes,
        cfg.work_dir_min_free_bytes
    );
}

#[test]
fn roles_probes_metrics_shutdown_and_scaling_agree_with_the_binary() {
    let (_, docs) = render("production");
    for (name, role) in [
        ("vodflow-api", "api"),
        ("vodflow-bridge", "bridge"),
        ("vodflow-worker", "worker"),
        ("vodflow-transcode-worker", "worker"),
    ] {
        let d = named(&docs, "Deployment", name);
        let pod = &d["spec"]["template"];
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["command"][0], "vodflow", "{name}");
        assert_eq!(c["args"][0], role, "{name}");
        let refs: Vec<&str> = c["envFrom"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|e| {
                e["configMapRef"]["name"]
                    .as_str()
                    .or(e["secretRef"]["name"].as_str())
            })
            .collect();
        assert_eq!(refs, ["vodflow-config", "vodflow-secrets"], "{name}");
        // Prometheus finds the metrics on a port the container opens.
        let ann = &pod["metadata"]["annotations"];
        assert_eq!(ann["prometheus.io/scrape"], "true", "{name}");
        let port: u64 = ann["prometheus.io/port"].as_str().unwrap().parse().unwrap();
        assert!(
            c["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|p| p["containerPort"].as_u64() == Some(port)),
            "{name}: metrics port {port} not opened"
        );
        assert!(
            c["livenessProbe"]["httpGet"]["path"] == "/healthz",
            "{name}"
        );
    }
    let api = named(&docs, "Deployment", "vodflow-api");
    let c = &api["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(!of_kind(&docs, "PodDisruptionBudget").is_empty());
    let args = |n: &str| {
        named(&docs, "Deployment", n)["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(args("vodflow-worker"), "worker --queues processing");
    assert_eq!(
        args("vodflow-transcode-worker"),
        "worker --queues transcode"
    );
    // Encoders get time to finish a chunk on SIGTERM.
    let tw = named(&docs, "Deployment", "vodflow-transcode-worker");
    assert!(
        tw["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap()
            >= 300
    );
    let job = named(&docs, "Job", "vodflow-migrate");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );
    // KEDA scales the encoders on the queue the transcode activities are scheduled on.
    let so = named(&docs, "ScaledObject", "vodflow-transcode-worker");
    assert_eq!(so["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(
        so["spec"]["scaleTargetRef"]["name"],
        "vodflow-transcode-worker"
    );
    let temporal = so["spec"]["triggers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "temporal")
        .expect("a temporal trigger");
    assert_eq!(
        temporal["metadata"]["taskQueue"],
        vodflow_core::names::TASK_QUEUE_TRANSCODE
    );
    assert_eq!(temporal["metadata"]["queueTypes"], "activity");
    for key in ["endpoint", "namespace", "targetQueueSize"] {
        assert!(temporal["metadata"][key].is_string(), "{key}");
    }
    // Without KEDA (local), a CPU HPA scales the same Deployment.
    let (_, local) = render("local");
    let hpa = named(
        &local,
        "HorizontalPodAutoscaler",
        "vodflow-transcode-worker",
    );
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        "vodflow-transcode-worker"
    );
}

/// Where unprivileged user namespaces are refused, NetworkPolicy is what keeps a hostile file's
/// decoder off the network: every long-running pod is selected by a policy that limits its egress,
/// the encoders reach no address outside the cluster's services, and nothing reaches the cloud's
/// metadata address or the cluster's private ranges.
#[test]
fn the_production_overlay_walls_every_role_off_from_what_it_does_not_need() {
    let (_, docs) = render("production");
    let policies = of_kind(&docs, "NetworkPolicy");
    let policy_for = |component: &str| {
        policies
            .iter()
            .find(|p| {
                p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
            })
            .unwrap_or_else(|| panic!("no NetworkPolicy selects the {component} pods"))
    };
    for d in of_kind(&docs, "Deployment") {
        let component = d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
            .as_str()
            .unwrap();
        let p = policy_for(component);
        let types: Vec<&str> = p["spec"]["policyTypes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            types.contains(&"Egress") && types.contains(&"Ingress"),
            "{component}: {types:?}"
        );
        for rule in p["spec"]["egress"].as_sequence().unwrap() {
            for to in rule["to"].as_sequence().unwrap() {
                let block = &to["ipBlock"];
                if block.is_null() {
                    assert!(
                        !to["namespaceSelector"].is_null(),
                        "{component}: an egress to anything"
                    );
                    continue;
                }
                assert_ne!(
                    component, "transcode-worker",
                    "an encoder reaches the internet"
                );
                let except: Vec<&str> = block["except"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                for private in [
                    "169.254.0.0/16",
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                ] {
                    assert!(
                        except.contains(&private),
                        "{component}: {private} is reachable"
                    );
                }
            }
        }
    }
}
