"""Run the collection's modules through a real ansible-playbook on localhost."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".tmp", "collections")
BIN = os.path.dirname(sys.executable)


def playbook(tasks_yaml, ns=None, extra_args=(), check=True, wrap=()):
    """Run a one-play playbook on localhost (in namespace ``ns`` when given).

    ``wrap``: a command line that runs ansible-playbook's (appended to it), e.g. unshare.

    The tasks should ``register: out``; a last task writes it to JSON that is returned.
    Returns (returncode, result dict or None, combined output).
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.json")
        play = os.path.join(tmp, "play.yml")
        with open(play, "w") as f:
            f.write(
                "- hosts: localhost\n"
                "  connection: local\n"
                "  gather_facts: false\n"
                "  vars:\n"
                "    ansible_python_interpreter: %s\n"
                "  tasks:\n%s\n"
                "    - name: Save the result\n"
                "      ansible.builtin.copy:\n"
                "        content: '{{ out | to_json }}'\n"
                "        dest: %s\n"
                "      check_mode: false\n" % (sys.executable, tasks_yaml, result))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        argv = [os.path.join(BIN, "ansible-playbook"), play] + list(extra_args)
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        argv = list(wrap) + argv
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        data = None
        if os.path.exists(result):
            with open(result) as f:
                data = json.load(f)
        if check and proc.returncode != 0:
            raise AssertionError("ansible-playbook failed:\n" + proc.stdout + proc.stderr)
        return proc.returncode, data, proc.stdout + proc.stderr
