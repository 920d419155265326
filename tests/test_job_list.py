"""avdm.inference.job_list: the inference jobs defined once, and the driver's view of them."""
import pytest

from avdm.bin import model_jobs
from avdm.inference.job_list import enhancement_job, job, output_dir_name, parse_output_dir_name


def test_output_dir_names_round_trip_and_other_dirs_are_not_jobs():
    for j in ("generate", "enhance", "enhance_unsup"):
        assert parse_output_dir_name(output_dir_name(j, "test_snr0_seen")) == (j, "test_snr0_seen")
    assert parse_output_dir_name("enhance_unsup_x") == ("enhance_unsup", "x")
    assert parse_output_dir_name("logdir") is None and parse_output_dir_name("enhance_") is None
    assert enhancement_job("conditional") == "enhance" and enhancement_job("prior") == "enhance_unsup"
    with pytest.raises(ValueError, match="unknown job 'denoise'; known: generate, enhance, enhance_unsup"):
        job("denoise")


def test_the_driver_gets_jobs_inputs_decode_configs_and_outputs(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("model_conf:\n  mode: prior\nvisual_encoder: light_cnn\n")
    assert model_jobs.main([str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["generate base decode_generate.yaml",
                                                    "enhance_unsup condition decode_enhance_unsup.yaml"]
    assert model_jobs.main([str(config), "--jobs", "enhance"]) == 0
    assert capsys.readouterr().out == "enhance condition decode_enhance.yaml\n"
    assert model_jobs.main([str(config), "--jobs", "denoise"]) == 1
    assert "unknown job 'denoise'" in capsys.readouterr().err
    for name in ("enhance_test_snr0_seen", "generate_test", "generate_dev", "logdir"):
        (tmp_path / name).mkdir()
        if name != "generate_dev":  # not decoded (yet): no wav.scp
            (tmp_path / name / "wav.scp").write_text("")
    assert model_jobs.main(["--outputs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"test_snr0_seen {tmp_path}/enhance_test_snr0_seen",
                                                    f"test {tmp_path}/generate_test"]
