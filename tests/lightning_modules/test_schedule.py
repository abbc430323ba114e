import pytest

from lightning_modules.schedule import LossSchedule, LossTerm


def test_active_terms_follow_steps_and_optimizer():
    schedule = LossSchedule([
        LossTerm("warm", "l1", 1.0, stop_step=10),
        LossTerm("adv", "adv", 0.1, start_step=10),
        LossTerm("d", "adv_d", 1.0, optimizer="discriminator", start_step=10),
    ])
    assert [t.name for t in schedule.active(0, "generator")] == ["warm"]
    assert [t.name for t in schedule.active(9, "generator")] == ["warm"]
    assert [t.name for t in schedule.active(10, "generator")] == ["adv"]
    assert schedule.active(9, "discriminator") == []
    assert [t.name for t in schedule.active(10, "discriminator")] == ["d"]
    assert schedule.phase_boundaries() == [10]


def test_weight_overrides_and_zero_weight_terms_are_skipped():
    schedule = LossSchedule([LossTerm("a", "l1", 1.0), LossTerm("b", "tv", 0.5)], {"b": 0.0})
    assert [t.name for t in schedule.active(0, "generator")] == ["a"]
    assert schedule.rows()[1]["weight"] == 0.0
    assert not schedule.uses("discriminator")


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        LossSchedule([LossTerm("a", "l1", 1.0), LossTerm("a", "tv", 1.0)])
    with pytest.raises(ValueError, match="unknown loss terms"):
        LossSchedule([LossTerm("a", "l1", 1.0)], {"nope": 1.0})
    with pytest.raises(ValueError, match="optimizer"):
        LossTerm("a", "l1", 1.0, optimizer="critic")
    with pytest.raises(ValueError, match="stop_step"):
        LossTerm("a", "l1", 1.0, start_step=5, stop_step=5)


def test_rows_render_as_a_table():
    schedule = LossSchedule([LossTerm("a", "l1", 2.0, on="composite", start_step=3, stop_step=7)])
    assert schedule.rows() == [{"name": "a", "fn": "l1", "weight": 2.0, "on": "composite",
                                "optimizer": "generator", "steps": "[3, 7)"}]
    assert schedule.render().row_count == 1
