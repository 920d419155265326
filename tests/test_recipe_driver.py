"""The shell glue: option parsing and stage selection of egs/TEMPLATE/avdm.sh."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARSE = ROOT / "tools" / "parse_options.sh"


def parse(args, pre="stage=0; nj=4; use_gpu=false; name=a"):
    script = f'{pre}\n. "{PARSE}"\necho "stage=$stage nj=$nj use_gpu=$use_gpu name=$name rest=$*"'
    return subprocess.run(["bash", "-c", script, "prog", *args], capture_output=True, text=True)


def test_parse_options_sets_variables():
    r = parse(["--stage", "3", "--nj=2", "--use-gpu", "true", "pos1", "--x"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=3 nj=2 use_gpu=true name=a rest=pos1 --x"


def test_parse_options_value_with_spaces():
    r = parse(["--name", "a b  c"])
    assert "name=a b  c" in r.stdout


def test_parse_options_unknown_option():
    r = parse(["--stgae", "3"])
    assert r.returncode != 0 and "unknown option --stgae" in r.stderr


def test_parse_options_boolean_checked():
    r = parse(["--use_gpu", "yes"])
    assert r.returncode != 0 and "takes true or false" in r.stderr


def test_parse_options_missing_value_and_help():
    r = parse(["--nj"])
    assert r.returncode != 0 and "needs a value" in r.stderr
    r = parse(["--help"], pre='stage=0; nj=1; use_gpu=false; name=a; help_message="usage: here"')
    assert r.returncode == 0 and r.stdout.strip() == "usage: here"


@pytest.fixture
def recipe(tmp_path):
    """An empty recipe dir using the real driver, with the python of this test session."""
    d = tmp_path / "recipe"
    (d / "local").mkdir(parents=True)
    (d / "path.sh").write_text(f"export AVDM_ROOT={ROOT}\n")
    env = dict(os.environ)
    import sys

    env["AVDM_PYTHON"] = sys.executable
    return d, env


def run_driver(recipe, *args):
    d, env = recipe
    return subprocess.run(["bash", str(ROOT / "egs" / "TEMPLATE" / "avdm.sh"), *args], cwd=d, env=env,
                          capture_output=True, text=True, timeout=120)


def test_stage_with_missing_inputs_names_earlier_stage(recipe):
    d, _ = recipe
    (d / "conf").mkdir()
    (d / "conf" / "train_prior_lite.yaml").write_text("{}\n")
    r = run_driver(recipe, "--stage", "3", "--stop_stage", "3")
    assert r.returncode != 0
    assert "stage 3: training" in r.stderr
    assert "missing dump/raw/train/wav.scp: run stage 2 first" in r.stderr


def test_stage_selection_runs_only_requested(recipe):
    d, _ = recipe
    (d / "local" / "data.sh").write_text(
        "#!/usr/bin/env bash\necho \"data.sh args: $*\" > data_args.txt\n"
        "for s in train dev test; do mkdir -p data/$s; touch data/$s/wav.scp data/$s/video.scp; done\n")
    (d / "local" / "data.sh").chmod(0o755)
    r = run_driver(recipe, "--stop_stage", "0", "--local_data_opts", "--size tiny")
    assert r.returncode == 0, r.stderr
    assert "stage 0: data preparation" in r.stderr and "stage 0 done in" in r.stderr
    assert "stage 1" not in r.stderr
    assert (d / "data_args.txt").read_text().strip() == "data.sh args: --out data --size tiny"


def test_stage0_failure_stops_the_run(recipe):
    d, _ = recipe
    (d / "local" / "data.sh").write_text("#!/usr/bin/env bash\necho 'no GRID here' >&2; exit 4\n")
    (d / "local" / "data.sh").chmod(0o755)
    r = run_driver(recipe, "--stop_stage", "1")
    assert r.returncode != 0
    assert "no GRID here" in r.stderr and "stage 1" not in r.stderr


def test_driver_rejects_unknown_option(recipe):
    r = run_driver(recipe, "--stages", "1")
    assert r.returncode != 0 and "unknown option --stages" in r.stderr


def test_model_jobs_by_mode(tmp_path):
    from avdm.inference.job_list import jobs_for

    assert jobs_for({"model_conf": {"mode": "prior"}, "visual_encoder": "light_cnn"}) == ["generate", "enhance_unsup"]
    assert jobs_for({"model_conf": {"mode": "conditional"}}) == ["enhance"]
    with pytest.raises(ValueError, match="unknown model mode"):
        jobs_for({"model_conf": {"mode": "both"}})


def timed_fake_python(recipe, tmp_path, name_of, fails):
    """Run the driver with a stand-in python: each call logs "start|end <name> <time>" (name: the
    sed expression ``name_of`` applied to its arguments) and takes a second; ``fails`` exits 3.
    Returns (run driver with args -> CompletedProcess, read events -> {(kind, name): time})."""
    d, env = recipe
    fake = tmp_path / "fake_python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        "case \"$*\" in *avdm.bin.dir_lock*) exit 0;; esac\n"  # the driver's lock of the exp dir
        f"n=$(echo \"$*\" | sed -E '{name_of}')\n"
        "echo \"start $n $(date +%s.%N)\" >> events.txt\n"
        "sleep 1\n"
        "echo \"end $n $(date +%s.%N)\" >> events.txt\n"
        f"case $n in {fails}) echo 'failed' >&2; exit 3;; esac\n")
    fake.chmod(0o755)
    env = dict(env, AVDM_PYTHON=str(fake))

    def run(*args):
        return subprocess.run(["bash", str(ROOT / "egs" / "TEMPLATE" / "avdm.sh"), *args], cwd=d, env=env,
                              capture_output=True, text=True, timeout=60)

    def events():
        return {(kind, n): float(t) for kind, n, t in
                (line.split() for line in (d / "events.txt").read_text().splitlines())}

    return run, events


def test_stage3_trains_models_side_by_side_and_names_the_failed_one(recipe, tmp_path):
    d, _ = recipe
    for s in ("train", "dev"):
        (d / "dump" / "raw" / s).mkdir(parents=True)
        (d / "dump" / "raw" / s / "wav.scp").touch()
    (d / "conf").mkdir()
    for name in ("a", "b", "bad"):
        (d / "conf" / f"{name}.yaml").write_text("{}\n")
    # each "training" logs its start and end; the one of bad.yaml fails
    run, events = timed_fake_python(recipe, tmp_path, r"s/.*--config ([^ ]+).*/\1/", "*bad*")
    r = run("--stage", "3", "--stop_stage", "3", "--train_jobs", "2", "--skip_asr", "true",
            "--train_config", "conf/a.yaml conf/bad.yaml conf/b.yaml")
    assert r.returncode != 0
    assert "training failed for: bad" in r.stderr
    when = events()
    # a and bad ran side by side, b started after both had finished; all three ran despite bad failing
    assert when[("start", "conf/bad.yaml")] < when[("end", "conf/a.yaml")]
    assert when[("start", "conf/b.yaml")] >= max(when[("end", "conf/a.yaml")], when[("end", "conf/bad.yaml")])
    assert ("end", "conf/b.yaml") in when


def test_stage2_dumps_sets_side_by_side_and_names_the_failed_one(recipe, tmp_path):
    d, _ = recipe
    for s in ("train", "dev", "test", "test_snr0_seen"):
        (d / "data" / s).mkdir(parents=True, exist_ok=True)
        (d / "data" / s / "wav.scp").touch()
        (d / "dump" / "lip" / s).mkdir(parents=True, exist_ok=True)
        (d / "dump" / "lip" / s / "lip.scp").touch()
    (d / "data" / "test" / "condition_sets").write_text("test_snr0_seen\n")
    # each "dump" logs its start and end; the one of dev fails
    run, events = timed_fake_python(recipe, tmp_path, r"s/.*--data_dir data\/([^ ]+).*/\1/", "dev")
    r = run("--stage", "2", "--stop_stage", "2", "--nj", "2")
    assert r.returncode != 0
    assert "dumping failed for: dev" in r.stderr
    when = events()
    # train and dev side by side, then test and its condition set; every set ran despite dev failing
    assert when[("start", "dev")] < when[("end", "train")]
    assert when[("start", "test")] >= max(when[("end", "train")], when[("end", "dev")])
    assert when[("start", "test_snr0_seen")] < when[("end", "test")]
    assert {s for _, s in when} == {"train", "dev", "test", "test_snr0_seen"}


@pytest.mark.parametrize("args, message", [
    (["--stage", "9"], "--stage 9: the stages are 0..6"),
    (["--stage", "abc"], "--stage must be a whole number, got 'abc'"),
    (["--stage", "4", "--stop_stage", "2"], "--stage 4 is after --stop_stage 2: nothing to run"),
    (["--train_config", "missing.yaml"], "train config missing.yaml not found"),
    (["--stage", "4", "--inference_config", "nope.yaml"], "inference config nope.yaml not found"),
])
def test_bad_arguments_are_refused_before_any_stage_runs(recipe, args, message):
    d, _ = recipe
    (d / "local" / "data.sh").write_text("#!/usr/bin/env bash\ntouch data_ran\n")
    (d / "local" / "data.sh").chmod(0o755)
    r = run_driver(recipe, *args)
    assert r.returncode != 0 and message in r.stderr
    assert "stage 0" not in r.stderr and not (d / "data_ran").exists()


def test_a_second_run_in_the_same_exp_dir_is_refused_while_the_first_lives(recipe):
    d, env = recipe
    (d / "local" / "data.sh").write_text("#!/usr/bin/env bash\ntouch started; sleep 30\n")
    (d / "local" / "data.sh").chmod(0o755)
    first = subprocess.Popen(["bash", str(ROOT / "egs" / "TEMPLATE" / "avdm.sh"), "--stop_stage", "0"], cwd=d,
                             env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for _ in range(200):
            if (d / "started").exists():
                break
            time.sleep(0.05)
        r = run_driver(recipe, "--stage", "5")
        assert r.returncode != 0
        assert f"in use by another run (pid {first.pid}" in r.stderr and "exp/.avdm.lock" in r.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the first run was killed with -9: its lock is stale and the next run takes it over
    r = run_driver(recipe, "--stage", "5", "--stop_stage", "5")
    assert "taking over the lock of a run that is gone" in r.stderr
    assert "in use by another run" not in r.stderr
    assert not (d / "exp" / ".avdm.lock").exists()  # released when that run ended
