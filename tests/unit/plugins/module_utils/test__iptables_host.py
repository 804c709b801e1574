"""Host-reading logic of iptables_facts with stand-in commands (pure logic only;
the module itself is proven against real iptables in tests/integration)."""
import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _iptables_host as host

SAVE = "*filter\n:INPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\nCOMMIT\n"


def tools(available, outputs):
    def which(name):
        return "/usr/sbin/" + name if name in available else None

    def run(argv):
        name = argv[0].rsplit("/", 1)[-1]
        return outputs.get(name, (0, "", ""))
    return run, which


@pytest.mark.parametrize("text, expected", [
    ("iptables v1.8.9 (nf_tables)", ("1.8.9", "nf_tables")),
    ("iptables v1.8.7 (legacy)", ("1.8.7", "legacy")),
    ("iptables v1.6.1", ("1.6.1", "legacy")),
    ("garbage", (None, None)),
])
def test_parse_version(text, expected):
    assert host.parse_version(text) == expected


def test_missing_iptables_save_names_the_package():
    run, which = tools(set(), {})
    with pytest.raises(LookupError, match="install the 'iptables' package"):
        host.save_family(run, which, "ipv4")


def test_missing_ip6tables_is_unavailable_not_fatal():
    run, which = tools({"iptables-save"}, {})
    assert host.save_family(run, which, "ipv6") == {
        "family": "ipv6", "available": False, "reason": "ip6tables-save not found"}


def test_ip6tables_failing_is_unavailable_with_its_message():
    run, which = tools({"ip6tables-save"}, {
        "ip6tables-save": (1, "", "ip6tables-save: unable to initialize table 'filter'")})
    got = host.save_family(run, which, "ipv6")
    assert got["available"] is False
    assert "unable to initialize table 'filter'" in got["reason"]


def test_iptables_failing_is_an_error():
    run, which = tools({"iptables-save"}, {"iptables-save": (4, "", "Permission denied (you must be root)")})
    with pytest.raises(RuntimeError, match="Permission denied"):
        host.save_family(run, which, "ipv4")


def test_unparsable_output_is_an_error_naming_the_line():
    run, which = tools({"iptables-save"}, {"iptables-save": (0, "*filter\n-A NOPE -j DROP\nCOMMIT\n", "")})
    with pytest.raises(RuntimeError, match="line 2"):
        host.save_family(run, which, "ipv4")


def test_save_family_counts_and_keeps_warnings():
    text = "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n" + SAVE
    run, which = tools({"iptables-save"}, {"iptables-save": (0, text, "")})
    got = host.save_family(run, which, "ipv4")
    assert got["rule_count"] == 1 and got["available"] is True
    assert got["notes"] == ["Warning: iptables-legacy tables present, use iptables-legacy-save to see them"]


def test_backends_both_holding_rules_warn_and_docker_backend_is_found():
    legacy = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n"
    run, which = tools({"iptables-nft-save", "iptables-legacy-save"},
                       {"iptables-nft-save": (0, SAVE, ""), "iptables-legacy-save": (0, legacy, "")})
    found, warnings = host.probe_backends(run, which, ["ipv4"])
    assert found == {"nf_tables": {"ipv4": {"rules": 1, "docker_chains": ["DOCKER-USER"]}},
                     "legacy": {"ipv4": {"rules": 1, "docker_chains": []}}}
    assert len(warnings) == 1 and "legacy: 1, nf_tables: 1" in warnings[0]
    assert host.docker_backend(found) == "nf_tables"
    assert host.docker_backend({}) is None


def test_only_dockers_own_chains_count_as_docker_chains():
    # DOCKER_OUTPUT / DOCKER_POSTROUTING are the embedded DNS rules an outer engine
    # writes into a containerised host; DOCKERGUARD is ours. Neither is this host's Docker.
    text = ("*nat\n:DOCKER_OUTPUT - [0:0]\n:DOCKER_POSTROUTING - [0:0]\nCOMMIT\n"
            "*filter\n:DOCKERGUARD - [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\n"
            ":DOCKER-ISOLATION-STAGE-1 - [0:0]\nCOMMIT\n")
    assert sorted(set(host.DOCKER_CHAIN.findall(text))) == [
        "DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-USER"]


def test_docker_chains_in_both_backends_say_both():
    both = {"nf_tables": {"ipv4": {"rules": 3, "docker_chains": ["DOCKER"]}},
            "legacy": {"ipv4": {"rules": 2, "docker_chains": ["DOCKER-USER"]}}}
    assert host.docker_backend(both) == "both"
