"""`photoedit`: one entry point, a table of commands."""
from pipelines.cli import COMMANDS, main


def test_cli_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert main(["no-such-command"]) == 2
