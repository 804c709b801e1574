"""The one command runner, without AnsibleModule (as the boot program uses it): real
commands of the test machine."""
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner


def test_runs_with_the_c_locale_and_feeds_stdin():
    runner = CmdRunner()
    assert runner.run(["sh", "-c", "echo $LC_ALL"]) == (0, "C\n", "")
    assert runner.run([runner.which("cat")], data="-A X -j RETURN\n") == (0, "-A X -j RETURN\n", "")
    rc, out, err = runner(["sh", "-c", "echo oops >&2; exit 3"])
    assert (rc, out, err) == (3, "", "oops\n")


def test_which_searches_the_sbin_directories_too(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    runner = CmdRunner()
    assert runner.which("sh") in ("/usr/bin/sh", "/bin/sh")
    assert runner.which("no-such-tool-here") is None
    assert runner.run(["/no/such/binary"])[0] == 127


def test_started_commands_report_missing_failed_or_output():
    runner = CmdRunner()
    with ThreadPoolExecutor(2) as pool:
        assert runner.start(pool, ["no-such-tool-here"]).result() is None
        assert runner.start(pool, ["sh", "-c", "echo bad >&2; exit 1"]).result() == (False, "bad")
        assert runner.start(pool, ["echo", "hi"]).result() == (True, "hi\n")
