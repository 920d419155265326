import pytest

from avdm.registry import ALL, Registry, UnknownKeyError, load_all


def make():
    reg = Registry("widget", "test widgets")

    @reg.register("round_widget")
    class Round:
        """A round widget.

        More text that is not the summary."""

        def __init__(self, radius: float = 1.0, color: str = "red"):
            self.radius, self.color = radius, color

    @reg.register("square", description="explicit description")
    def square(side=2):
        return ("square", side)

    return reg, Round


def test_register_build_and_describe():
    reg, Round = make()
    w = reg.build("round_widget", {"radius": 3.0}, color="blue")
    assert isinstance(w, Round) and w.radius == 3.0 and w.color == "blue"
    assert reg.build("square") == ("square", 2)
    assert reg.describe("round_widget") == "A round widget."
    assert reg.describe("square") == "explicit description"
    assert reg.keys() == ["round_widget", "square"]
    assert "square" in reg and len(reg) == 2


def test_unknown_key_lists_known_and_closest():
    reg, _ = make()
    with pytest.raises(UnknownKeyError) as e:
        reg.get("round_widgit")
    msg = str(e.value)
    assert "unknown widget 'round_widgit'" in msg
    assert "known keys: round_widget, square" in msg
    assert "Did you mean 'round_widget'?" in msg


def test_unknown_key_without_close_match():
    reg, _ = make()
    with pytest.raises(ValueError) as e:
        reg.build("zzz")
    assert "Did you mean" not in str(e.value)


def test_unknown_conf_option_names_accepted():
    reg, _ = make()
    with pytest.raises(TypeError) as e:
        reg.build("round_widget", {"raduis": 2})
    msg = str(e.value)
    assert "widget 'round_widget'" in msg and "'raduis' (did you mean 'radius'?)" in msg
    assert "accepted: radius, color" in msg


def test_duplicate_key_rejected():
    reg, _ = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("square")(lambda: None)


def test_invalid_key_rejected():
    reg, _ = make()
    with pytest.raises(ValueError):
        reg.register(" bad")


def test_class_choices_bridge_and_error():
    reg, Round = make()

    @reg.register("none")
    class Nothing:
        """No widget."""

    choices = reg.class_choices(default="square", optional=True)
    assert choices.name == "widget"
    assert set(choices.choices()) >= {"round_widget", "square"}
    assert choices.get_class("round_widget") is Round
    assert choices.get_class("none") is None
    with pytest.raises(ValueError) as e:
        choices.get_class("squar")
    assert "Did you mean 'square'?" in str(e.value)


def test_third_party_registration_reaches_class_choices():
    from avdm.registry import SDES

    class MySDE:
        """A plugin SDE."""

    SDES.register("plugin_test_sde")(MySDE)
    try:
        assert SDES.class_choices(default="ouve").get_class("plugin_test_sde") is MySDE
    finally:
        SDES._entries.pop("plugin_test_sde")


def test_load_all_registers_builtin_sdes():
    regs = load_all()
    assert regs is ALL
    assert {"ouve", "vp"} <= set(regs["sde"].keys())


def test_avdm_list_prints_every_registry(capsys):
    from avdm.bin.list_components import main

    assert main([]) == 0
    out = capsys.readouterr().out
    for name in ALL:
        assert f"{name}:" in out
    assert "ouve" in out and "Drift theta*(y - x)" in out
    assert main(["sde"]) == 0
    out = capsys.readouterr().out
    assert "sde:" in out and "score_model:" not in out
