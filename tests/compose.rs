//! `docker-compose.temporal.yml` is documentation that must stay true: it parses, and it describes
//! the same services, ports and commands as the local stack. (No Docker engine runs here.)

use serde_yaml::Value;

#[test]
fn compose_file_describes_the_local_topology() {
    let text = std::fs::read_to_string("docker-compose.temporal.yml").unwrap();
    let doc: Value = serde_yaml::from_str(&text).expect("valid YAML");
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
    for needed in [
        "postgres", "temporal", "kafka", "s3", "api", "bridge", "worker",
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
    assert!(ports("postgres").contains(&"127.0.0.1:5432:5432".to_owned()));
    assert!(ports("temporal").contains(&"127.0.0.1:7233:7233".to_owned()));
    assert!(ports("temporal").contains(&"127.0.0.1:8233:8233".to_owned()));
    assert!(ports("kafka").contains(&"127.0.0.1:9092:9092".to_owned()));
    assert!(ports("s3").contains(&"127.0.0.1:3900:3900".to_owned()));
    assert!(ports("api").contains(&"127.0.0.1:8080:8080".to_owned()));
    for (svc, cmd) in [("api", "api"), ("bridge", "bridge"), ("worker", "worker")] {
        assert_eq!(doc["services"][svc]["command"][1].as_str(), Some(cmd));
    }
    // The search attributes the stack script registers are registered here too.
    let temporal_cmd = doc["services"]["temporal"]["command"].as_str().unwrap();
    let stack = std::fs::read_to_string("scripts/stack").unwrap();
    for attr in ["VideoId=Keyword", "OwnerId=Keyword", "VideoStatus=Keyword"] {
        assert!(
            temporal_cmd.contains(attr) && stack.contains(attr),
            "{attr}"
        );
    }
    // Every variable the services set is one the binary reads.
    let env = doc["x-vodflow-env"].as_mapping().unwrap();
    for key in env.keys().filter_map(Value::as_str) {
        assert!(
            vodflow_core::config::VARS.iter().any(|v| v.name == key),
            "{key} is not a vodflow variable"
        );
    }
    assert!(std::path::Path::new("Dockerfile").exists());
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
