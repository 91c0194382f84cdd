//! Device names (`auto`, `cpu`, `cuda`, `cuda:N`) resolved to libtorch devices.

use crate::{Error, Result};
use tch::Device;

/// Resolves `auto`, `cpu`, `cuda`, `cuda:N`. Returns the device and, for `auto` without a
/// GPU, a note saying so.
pub fn resolve_device(spec: &str) -> Result<(Device, Option<String>)> {
    match spec {
        "cpu" => Ok((Device::Cpu, None)),
        "auto" => {
            if tch::Cuda::is_available() {
                Ok((Device::Cuda(0), None))
            } else {
                Ok((
                    Device::Cpu,
                    Some("no CUDA device available; using the CPU".into()),
                ))
            }
        }
        _ => {
            let idx = if spec == "cuda" {
                0
            } else if let Some(i) = spec.strip_prefix("cuda:") {
                i.parse::<usize>()
                    .map_err(|_| Error::Invalid(format!("bad device {spec:?}")))?
            } else {
                return Err(Error::Invalid(format!(
                    "unknown device {spec:?} (expected auto, cpu, cuda or cuda:N)"
                )));
            };
            let count = tch::Cuda::device_count() as usize;
            if idx >= count {
                return Err(Error::Invalid(format!(
                    "device {spec} requested but {count} CUDA device(s) are available"
                )));
            }
            Ok((Device::Cuda(idx), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_device;
    use crate::Error;
    use tch::Device;

    #[test]
    fn cpu_resolves_without_a_note() {
        let (d, note) = resolve_device("cpu").unwrap();
        assert_eq!(d, Device::Cpu);
        assert!(note.is_none());
    }

    #[test]
    fn auto_resolves_to_an_available_device() {
        let (d, note) = resolve_device("auto").unwrap();
        if tch::Cuda::is_available() {
            assert_eq!((d, note), (Device::Cuda(0), None));
        } else {
            assert_eq!(d, Device::Cpu);
            assert!(note.is_some());
        }
    }

    #[test]
    fn unknown_and_malformed_devices_are_invalid_input() {
        for spec in ["tpu", "cuda:x", "CPU", ""] {
            match resolve_device(spec) {
                Err(Error::Invalid(msg)) => assert!(msg.contains("device"), "{spec}: {msg}"),
                other => panic!("{spec:?}: expected Error::Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn cuda_index_beyond_the_count_is_invalid_input() {
        let count = tch::Cuda::device_count() as usize;
        let spec = format!("cuda:{count}");
        assert!(matches!(resolve_device(&spec), Err(Error::Invalid(_))));
    }
}
