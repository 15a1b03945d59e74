//! The Containerfile against the workspace and the manifests, without a container
//! runtime (CI pulls no image): every binary it copies is a workspace binary its
//! build stage builds; every image a manifest runs is one of its targets, at the
//! workspace's version, entered through the binary of that name with the port the
//! manifest opens; the keepalived-lite image has what the mounted health script
//! runs. Host tests.

use std::collections::BTreeMap;

use crate::ops_deploy::{must_succeed, root, run};

/// One stage of the Containerfile.
#[derive(Debug, Default)]
struct Stage {
    /// `FROM` image or stage.
    from: String,
    /// `(source stage, source path, destination)` of each `COPY --from=`.
    copies: Vec<(String, String, String)>,
    /// The `ENTRYPOINT`, exec form.
    entrypoint: Vec<String>,
    /// `EXPOSE` ports.
    exposes: Vec<u16>,
    /// `RUN` command lines.
    runs: Vec<String>,
}

/// The stages by name (`FROM image AS name`), joining continued lines.
fn stages(text: &str) -> BTreeMap<String, Stage> {
    let joined = text.replace("\\\n", " ");
    let mut out: BTreeMap<String, Stage> = BTreeMap::new();
    let mut current = None;
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "FROM" => {
                let (from, name) = rest
                    .split_once(" AS ")
                    .unwrap_or_else(|| panic!("unnamed stage: {line}"));
                current = Some(name.trim().to_string());
                out.insert(
                    name.trim().to_string(),
                    Stage {
                        from: from.trim().to_string(),
                        ..Stage::default()
                    },
                );
            }
            _ => {
                let name = current
                    .as_ref()
                    .unwrap_or_else(|| panic!("before FROM: {line}"));
                let stage = out.get_mut(name).expect("stage");
                match word {
                    "COPY" if rest.starts_with("--from=") => {
                        let f: Vec<&str> = rest.split_whitespace().collect();
                        assert_eq!(f.len(), 3, "{line}");
                        let from = f[0].trim_start_matches("--from=");
                        stage
                            .copies
                            .push((from.to_string(), f[1].to_string(), f[2].to_string()));
                    }
                    "ENTRYPOINT" => {
                        stage.entrypoint =
                            serde_json::from_str(rest).expect("ENTRYPOINT in exec form")
                    }
                    "EXPOSE" => stage.exposes.push(rest.parse().expect("EXPOSE port")),
                    "RUN" => stage.runs.push(rest.to_string()),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Binary target name -> (package, version), from `cargo metadata`.
fn workspace_binaries() -> BTreeMap<String, (String, String)> {
    let out = must_succeed(
        "cargo metadata",
        &run(
            env!("CARGO"),
            &["metadata", "--no-deps", "--format-version", "1"],
        ),
    );
    let meta: serde_json::Value = serde_json::from_str(&out).expect("metadata JSON");
    let mut bins = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        for t in p["targets"].as_array().expect("targets") {
            if t["kind"]
                .as_array()
                .expect("kind")
                .iter()
                .any(|k| k == "bin")
            {
                bins.insert(
                    t["name"].as_str().expect("name").to_string(),
                    (
                        p["name"].as_str().expect("package").to_string(),
                        p["version"].as_str().expect("version").to_string(),
                    ),
                );
            }
        }
    }
    bins
}

#[test]
fn the_containerfile_ships_workspace_binaries_and_every_manifest_image() {
    let text = std::fs::read_to_string(root().join("Containerfile")).expect("Containerfile");
    let stages = stages(&text);
    let bins = workspace_binaries();
    let build = &stages["build"];
    let cargo = build
        .runs
        .iter()
        .find(|r| r.starts_with("cargo build"))
        .expect("the build stage runs cargo build");
    assert!(
        cargo.contains("--release") && cargo.contains("--locked"),
        "{cargo}"
    );
    let built: Vec<&str> = cargo
        .split(" -p ")
        .skip(1)
        .map(|p| p.split_whitespace().next().expect("package"))
        .collect();
    // Every copied binary: built by the build stage, a workspace binary, installed
    // under its own name.
    let mut shipped = BTreeMap::new();
    for (name, stage) in &stages {
        for (from, src, dst) in &stage.copies {
            assert_eq!(from, "build", "{name}: {src}");
            let bin = src
                .strip_prefix("/src/target/release/")
                .unwrap_or_else(|| panic!("{name} copies {src}, not a release binary"));
            let (package, _) = bins
                .get(bin)
                .unwrap_or_else(|| panic!("{name} copies {bin}, not a workspace binary"));
            assert!(
                built.contains(&package.as_str()),
                "{bin} ({package}) not built: {cargo}"
            );
            assert_eq!(dst, &format!("/usr/local/bin/{bin}"));
            shipped.insert(name.clone(), bin.to_string());
        }
    }
    // Each binary target is a stage of its name on the common base, entered through
    // its binary.
    for (stage, bin) in &shipped {
        assert_eq!(stage, bin);
        let s = &stages[stage];
        assert_eq!(s.from, "base", "{stage}");
        assert_eq!(s.entrypoint, [format!("/usr/local/bin/{bin}")], "{stage}");
    }
    assert_eq!(
        shipped.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ipvs-exporter", "ipvsadm-rs", "keepalived-lite"]
    );

    // Every container of every manifest runs one of these images.
    let list = r#"
import glob, json, yaml
out = []
for f in sorted(glob.glob('deploy/kubernetes/*.yaml')):
    for d in yaml.safe_load_all(open(f)):
        spec = d.get('spec', {}).get('template', {}).get('spec', {})
        for c in spec.get('containers', []) + spec.get('initContainers', []):
            out.append({'file': f, 'image': c['image'], 'command': c.get('command'),
                        'ports': [p['containerPort'] for p in c.get('ports', [])]})
print(json.dumps(out))
"#;
    let out = must_succeed("listing containers", &run("python3", &["-c", list]));
    let containers: Vec<serde_json::Value> = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(containers.len(), 2, "{containers:?}");
    for c in &containers {
        let image = c["image"].as_str().expect("image");
        let (repo, tag) = image.rsplit_once(':').expect("a tagged image");
        let target = repo
            .strip_prefix("ipvs-rs/")
            .unwrap_or_else(|| panic!("{c}: not one of the Containerfile's images"));
        let bin = shipped
            .get(target)
            .unwrap_or_else(|| panic!("{c}: no Containerfile target {target}"));
        assert_eq!(tag, bins[bin].1, "{c}: the tag is the package version");
        assert!(
            c["command"].is_null(),
            "{c}: the ENTRYPOINT runs the binary"
        );
        let ports: Vec<u16> = c["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| p.as_u64().expect("port") as u16)
            .collect();
        assert_eq!(ports, stages[target].exposes, "{c}");
    }
}

/// The keepalived-lite image has the program the mounted health script runs.
#[test]
fn the_keepalived_lite_image_has_what_the_health_script_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mounted = crate::ops_deploy::extract_keepalived_config(dir.path());
    let script =
        std::fs::read_to_string(mounted.local("/usr/local/bin/health_check.sh")).expect("script");
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    let program = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("exec "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the script execs its check");
    assert_eq!(program, "curl");
    let text = std::fs::read_to_string(root().join("Containerfile")).expect("Containerfile");
    let stage = &stages(&text)["keepalived-lite"];
    let installs = stage
        .runs
        .iter()
        .find_map(|r| r.split("apt-get install").nth(1))
        .expect("the keepalived-lite stage installs packages");
    assert!(
        installs.split_whitespace().any(|w| w == program),
        "{installs}"
    );
}
