//! `docker-compose.temporal.yml` is documentation that must stay true: it parses, and it describes
//! the same services, ports and commands as the local stack. (No Docker engine runs here.) The
//! README and the CLI a newcomer meets first are checked here too.

use serde_yaml::Value;

#[test]
fn compose_file_describes_the_production_topology() {
    let text = std::fs::read_to_string("docker-compose.temporal.yml").unwrap();
    let doc: Value = serde_yaml::from_str(&text).expect("valid YAML");
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
    for needed in [
        "postgres",
        "temporal-postgresql",
        "temporal",
        "temporal-init",
        "temporal-ui",
        "kafka",
        "s3",
        "s3-init",
        "migrate",
        "api",
        "bridge",
        "worker",
        "transcode-worker",
    ] {
        assert!(
            names.contains(&needed),
            "service {needed} missing from compose file"
        );
    }
    let ports = |svc: &str| -> Vec<String> {
        doc["services"][svc]["ports"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The same host ports as the local stack, so the README's examples work against either.
    assert!(ports("postgres").contains(&"127.0.0.1:5432:5432".to_owned()));
    assert!(ports("temporal").contains(&"127.0.0.1:7233:7233".to_owned()));
    assert!(ports("temporal-ui").contains(&"127.0.0.1:8233:8080".to_owned()));
    assert!(ports("kafka").contains(&"127.0.0.1:9092:9092".to_owned()));
    assert!(ports("s3").contains(&"127.0.0.1:3900:9000".to_owned()));
    assert!(ports("api").contains(&"127.0.0.1:8080:8080".to_owned()));
    let command = |svc: &str| -> Vec<String> {
        doc["services"][svc]["command"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(command("api"), ["vodflow", "api"]);
    assert_eq!(command("bridge"), ["vodflow", "bridge"]);
    assert_eq!(
        command("worker"),
        ["vodflow", "worker", "--queues", "processing"]
    );
    assert_eq!(
        command("transcode-worker"),
        ["vodflow", "worker", "--queues", "transcode"]
    );
    assert_eq!(command("migrate"), ["vodflow", "migrate"]);
    for svc in ["api", "bridge", "worker", "transcode-worker", "migrate"] {
        assert_eq!(
            doc["services"][svc]["build"], ".",
            "{svc} builds the Dockerfile"
        );
    }
    // The search attributes the stack script registers are registered here too.
    let init = command("temporal-init").join(" ");
    let stack = std::fs::read_to_string("scripts/stack").unwrap();
    for attr in ["VideoId", "OwnerId", "VideoStatus"] {
        assert!(
            init.contains(&format!("--name {attr} --type Keyword")),
            "{attr}"
        );
        assert!(stack.contains(&format!("{attr}=Keyword")), "{attr}");
    }
    // Every variable the services set is one the binary reads.
    let env = doc["x-vodflow-env"].as_mapping().unwrap();
    for key in env.keys().filter_map(Value::as_str) {
        assert!(
            vodflow_core::config::VARS.iter().any(|v| v.name == key),
            "{key} is not a vodflow variable"
        );
    }
    // Every `${VAR:?…}` the file needs is one scripts/compose-env writes, and nothing else.
    let out = std::process::Command::new("scripts/compose-env")
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let mut needed: Vec<String> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split([':', '}']).next().map(str::to_owned))
        .collect();
    needed.sort();
    needed.dedup();
    for n in &needed {
        assert!(
            generated.contains(n),
            "{n} is needed but scripts/compose-env does not write it"
        );
    }
    for g in &generated {
        assert!(
            needed.contains(g),
            "scripts/compose-env writes {g}, which nothing uses"
        );
    }
    // Named volumes are declared; the Dockerfile runs the binary as a non-root user.
    let volumes = doc["volumes"].as_mapping().unwrap();
    for (name, svc) in services {
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let source = v.as_str().unwrap().split(':').next().unwrap();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    volumes.contains_key(source),
                    "{}: volume {source} is not declared",
                    name.as_str().unwrap()
                );
            }
        }
    }
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    assert!(dockerfile.contains("cargo build --release --bin vodflow"));
    assert!(dockerfile.contains("USER 65532"));
}

#[test]
fn readme_documents_every_variable_and_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let head: String = readme.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains("make run") && head.contains("make test"),
        "{head}"
    );
    for v in vodflow_core::config::VARS {
        assert!(
            readme.contains(&format!("`{}`", v.name)),
            "{} is not in the README's table",
            v.name
        );
    }
}

/// `vodflow ladder … | head -0`: the reader is gone before the command writes. The command ends
/// quietly, as Unix tools do, instead of panicking in `println!`.
#[test]
fn a_command_whose_reader_went_away_ends_without_a_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vodflow"))
        .args(["ladder", "1920x1080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
