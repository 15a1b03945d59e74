//! `--sysctl` (extension): the IPVS kernel parameters of the network namespace,
//! read through `ipvs_core::sysctl`, one `name = value` line each sorted by name
//! as `sysctl net.ipv4.vs` prints them, or one JSON document with `--json`
//! (docs/json.md).

use std::io::{self, Write};

use ipvs_core::sysctl::{self, Setting, Value};

/// Exit status when the parameters cannot be read (no `ip_vs`, no `/proc`).
pub const READ_ERROR_EXIT: i32 = 1;

/// Read and print the parameters; `Ok` holds the exit code.
pub fn list(json: bool, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    let settings = match sysctl::read_all() {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "cannot read the IPVS kernel parameters: {e}")?;
            return Ok(READ_ERROR_EXIT);
        }
    };
    if json {
        write_json(&settings, out)?;
    } else {
        write_text(&settings, out)?;
    }
    Ok(0)
}

/// `net.ipv4.vs.NAME = VALUE` lines, as procps's `sysctl` prints them.
pub fn write_text(settings: &[Setting], out: &mut dyn Write) -> io::Result<()> {
    for s in settings {
        writeln!(out, "{} = {}", s.dotted_name(), s.value)?;
    }
    Ok(())
}

/// A parameter's value in JSON: a number, an array of numbers or a string
/// (`--sysctl --json`, `--check --json`).
pub fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Integer(n) => (*n).into(),
        Value::Integers(ns) => ns.clone().into(),
        Value::Text(t) => t.clone().into(),
    }
}

/// `{"sysctl": {"net.ipv4.vs.NAME": VALUE, ...}}`: a number, an array of
/// numbers (`sync_threshold`) or a string (`est_cpulist`).
pub fn write_json(settings: &[Setting], out: &mut dyn Write) -> io::Result<()> {
    let params: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|s| (s.dotted_name(), json_value(&s.value)))
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert("sysctl".to_string(), serde_json::Value::Object(params));
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Vec<Setting> {
        let raw = [
            ("am_droprate", "10\n"),
            ("conntrack", "1\n"),
            ("est_cpulist", "0\n"),
            ("sync_threshold", "3\t50\n"),
        ];
        raw.iter()
            .map(|(name, text)| Setting {
                name: name.to_string(),
                parameter: sysctl::Parameter::from_name(name),
                value: Value::parse(text),
            })
            .collect()
    }

    #[test]
    fn text_is_one_sysctl_line_per_parameter() {
        let mut out = Vec::new();
        write_text(&settings(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "net.ipv4.vs.am_droprate = 10\nnet.ipv4.vs.conntrack = 1\nnet.ipv4.vs.est_cpulist = 0\nnet.ipv4.vs.sync_threshold = 3\t50\n"
        );
    }

    #[test]
    fn json_maps_dotted_names_to_numbers_arrays_and_strings() {
        let mut out = Vec::new();
        let mut s = settings();
        s[2].value = Value::Text("0-3".into());
        write_json(&s, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"sysctl": {
                "net.ipv4.vs.am_droprate": 10,
                "net.ipv4.vs.conntrack": 1,
                "net.ipv4.vs.est_cpulist": "0-3",
                "net.ipv4.vs.sync_threshold": [3, 50],
            }})
        );
    }
}
