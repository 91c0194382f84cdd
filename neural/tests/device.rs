//! libtorch is linked and loads without any environment, and device selection behaves:
//! `auto` takes CUDA when present and otherwise falls back to the CPU with a note; `cuda`
//! without a GPU is an error, not a silent fallback.

use neural::run::device;
use tch::Device;

#[test]
fn libtorch_runs() {
    let t = tch::Tensor::from_slice(&[1.0f64, 2.0]) + 1.0;
    assert_eq!(Vec::<f64>::try_from(&t).unwrap(), vec![2.0, 3.0]);
}

#[test]
fn auto_device_falls_back_to_cpu_with_a_note() {
    let (d, note) = device("auto").unwrap();
    if tch::Cuda::is_available() {
        assert_eq!(d, Device::Cuda(0));
        assert!(note.is_none());
    } else {
        assert_eq!(d, Device::Cpu);
        assert!(note.unwrap().contains("CPU"));
        assert!(device("cuda").is_err());
        assert!(device("cuda:0").is_err());
    }
    assert_eq!(device("cpu").unwrap().0, Device::Cpu);
    assert!(device("tpu").is_err());
    assert!(device("cuda:x").is_err());
}
