"""``python -m verify``: the dispatcher routes to each command and rejects what is not one."""

from __future__ import annotations

import importlib

import pytest

from verify.__main__ import COMMANDS, _usage, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_main(name: str) -> None:
    assert callable(importlib.import_module(COMMANDS[name][0]).main)


def test_unknown_command_exits_2_naming_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'nope'" in err and all(name in err for name in COMMANDS)


def test_no_command_is_a_usage_error_and_help_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert "commands:" in capsys.readouterr().out


def test_the_examples_name_real_commands() -> None:
    examples = [line.split()[3] for line in _usage().splitlines()
                if line.startswith("  python -m verify ")]
    assert examples and set(examples) <= set(COMMANDS)


def test_a_command_gets_its_own_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["report", "--help"])
    except SystemExit as exc:  # argparse's own --help
        code = int(exc.code or 0)
    assert code == 0
    assert "--format" in capsys.readouterr().out
