import ipaddress

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _policy as policy
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save


def entry(**kw):
    base = {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}
    base.update(kw)
    return base


@pytest.mark.parametrize("bad, named", [
    (entry(allow=["10.0.0.0/33"]), "'10.0.0.0/33'"),
    (entry(allow=["10.0.0.300"]), "'10.0.0.300'"),
    (entry(allow=["10.0.0.1/24"]), "did you mean 10.0.0.0/24"),
    (entry(allow=["fd00:250::1/64"]), "did you mean fd00:250::/64"),
    (entry(allow=[]), "empty allow list"),
    (entry(allow=None), "empty allow list"),
    (entry(allow=["10.0.0.0/8; rm -rf /"]), "rm -rf"),
    (entry(ports=["16a"]), "'16a'"),
    (entry(ports=[0]), "port 0"),
    (entry(ports=[70000]), "70000"),
    (entry(ports=["9000-8000"]), "runs backwards"),
    (entry(ports=[True]), "True"),
    (entry(ports=[]), "at least one port"),
    (entry(ports=["80$(id)"]), "80$(id)"),
    (entry(protocol="tcpp"), "'tcpp'"),
    (entry(action="accept"), "'accept'"),
    (entry(interfaces=["eth0-with-a-long-name"]), "eth0-with-a-long-name"),
    (entry(interfaces=["eth 0"]), "'eth 0'"),
    (entry(interfaces=["eth0;reboot"]), "eth0;reboot"),
    (entry(name="web`id`"), "web`id`"),
    (entry(name='a "quoted" name'), "quoted"),
    (entry(colour="red"), "unknown key(s) colour"),
    ("web", "should be a mapping"),
])
def test_bad_entries_are_refused_naming_the_value(bad, named):
    with pytest.raises(policy.PolicyError) as err:
        policy.validate([bad])
    assert named in str(err.value)
    assert "entries[1]" in str(err.value)


@pytest.mark.parametrize("kwargs, named", [
    ({"default": "maybe"}, "'maybe'"),
    ({"action": "log"}, "'log'"),
    ({"chain": "DOCKER-USER"}, "Docker's own chains"),
    ({"chain": "X" * 29}, "X" * 29),
    ({"chain": "bad chain"}, "'bad chain'"),
    ({"bridges": ["br0|x"]}, "br0|x"),
])
def test_bad_settings_are_refused(kwargs, named):
    with pytest.raises(policy.PolicyError, match=None) as err:
        policy.validate([entry()], **kwargs)
    assert named in str(err.value)


def test_duplicate_names_are_refused():
    with pytest.raises(policy.PolicyError, match="'web' is used twice"):
        policy.validate([entry(), entry()])


def test_normalises_ports_protocol_and_addresses():
    got = policy.validate([{"ports": [80, "8000-8100", "9000:9001", " 443 "],
                            "allow": ["10.250.1.10", "FD00:250::/64"]}])
    e = got["entries"][0]
    assert e["name"] == "entry1" and e["protocol"] == "tcp" and e["action"] == "drop"
    assert e["ports"] == [(80, 80), (8000, 8100), (9000, 9001), (443, 443)]
    assert e["allow"] == [ipaddress.ip_network("10.250.1.10/32"),
                          ipaddress.ip_network("fd00:250::/64")]


def test_rules_match_the_original_destination_port_per_family():
    pol = policy.validate([entry(allow=["10.250.0.0/24", "10.250.1.10", "fd00:250::/64"])])
    v4 = policy.chain_rules(pol, "ipv4")
    assert v4[0].startswith("-m conntrack --ctstate RELATED,ESTABLISHED")
    assert [r.split(" -m comment")[0] for r in v4[1:4]] == [
        "-i docker0", "-i br-+", "-i docker_gwbridge"]
    assert v4[4:] == [
        '-s 10.250.0.0/24 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL '
        '-m comment --comment "dockerguard: web allow" -j RETURN',
        '-s 10.250.1.10/32 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL '
        '-m comment --comment "dockerguard: web allow" -j RETURN',
        '-p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL '
        '-m comment --comment "dockerguard: web deny" -j DROP',
    ]
    v6 = policy.chain_rules(pol, "ipv6")
    assert [r for r in v6 if "-s " in r] == [
        '-s fd00:250::/64 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL '
        '-m comment --comment "dockerguard: web allow" -j RETURN']


def test_a_family_without_allowed_sources_is_denied_entirely():
    v6 = policy.chain_rules(policy.validate([entry()]), "ipv6")
    assert not any("-j RETURN" in r and "-s " in r for r in v6)
    assert v6[-1].endswith("-j DROP") and "--ctorigdstport 8080" in v6[-1]


def test_reject_all_protocols_interfaces_ranges_and_default_deny():
    pol = policy.validate([entry(protocol="all", action="reject", ports=["53-54"],
                                 interfaces=["eth1", "wg+"])], default="deny")
    v4 = policy.chain_rules(pol, "ipv4")
    body = [r for r in v4 if "dockerguard: web" in r]
    # 2 interfaces x 2 protocols x (1 allow + 1 deny)
    assert len(body) == 8
    assert '-s 10.250.0.0/24 -i wg+ -p udp -m conntrack --ctorigdstport 53:54 --ctdir ORIGINAL ' \
           '-m comment --comment "dockerguard: web allow" -j RETURN' in body
    assert any(r.startswith("-i eth1 -p tcp") and r.endswith("-j REJECT --reject-with tcp-reset")
               for r in body)
    assert any(r.startswith("-i eth1 -p udp") and
               r.endswith("-j REJECT --reject-with icmp-port-unreachable") for r in body)
    assert policy.chain_rules(pol, "ipv6")[-2].endswith("icmp6-port-unreachable")
    assert v4[-1].startswith("-m conntrack --ctstate DNAT --ctdir ORIGINAL")
    assert v4[-1].endswith("-j DROP")


def test_rendered_rules_parse_back_to_themselves():
    pol = policy.validate([entry(name="a b:c", allow=["10.0.0.0/8", "::/0"], protocol="all")],
                          default="deny", action="reject")
    for family in policy.FAMILIES:
        rules = policy.chain_rules(pol, family)
        text = policy.restore_payload("DOCKERGUARD", rules).replace(
            "*filter\n", "*filter\n:DOCKER-USER - [0:0]\n")
        model = parse_save(text.replace("-I DOCKER-USER 1 ", "-A DOCKER-USER "), family)
        chain = model["tables"]["filter"]["chains"]["DOCKERGUARD"]["rules"]
        assert [r["rule"] for r in chain] == ["-A DOCKERGUARD " + r for r in rules]
        assert all("unknown" not in r for r in chain)


def test_payloads_touch_only_our_chain_and_jump():
    text = policy.restore_payload("DG", ["-j RETURN"], jump_count=0)
    assert text == "*filter\n:DG - [0:0]\n-A DG -j RETURN\n-I DOCKER-USER 1 -j DG\nCOMMIT\n"
    # Jump already first and alone: not touched.
    assert "DOCKER-USER" not in policy.restore_payload("DG", [], jump_count=1, jump_first=True)
    # Jump elsewhere, or twice: removed and put back at the top.
    moved = policy.restore_payload("DG", [], jump_count=2, jump_first=True)
    assert moved.count("-D DOCKER-USER -j DG") == 2 and "-I DOCKER-USER 1 -j DG" in moved
    assert policy.restore_payload("DG", [], create_parent=True).startswith(
        "*filter\n:DOCKER-USER - [0:0]\n:DG - [0:0]\n")
    assert policy.removal_payload("DG", jump_count=1) == (
        "*filter\n-D DOCKER-USER -j DG\n-F DG\n-X DG\nCOMMIT\n")


# --- issue 13, class 2: nothing Linux or iptables refuses gets past validation ----------

@pytest.mark.parametrize("iface, why", [
    ("eth0:1", "':'"),                  # an alias label, not an interface: Linux refuses ':'
    ("eth0\n", "newline"),              # '$' used to accept a trailing newline
    ("eth0 ", "whitespace"),
    ("eth/0", "'/'"),
    (".", "'.' and '..'"),
    ("..", "'.' and '..'"),
    ("..+", "'.' and '..'"),
    ("-eth0", "starts with '-'"),
    ("", "empty"),
    ("++", "'+'"),
    ("eth+0", "'+'"),
    ("veth1234567890ab", "at most 15"),  # 16 bytes (IFNAMSIZ - 1 = 15)
    ("veth123456789ab+", "at most 15"),  # 15 + the wildcard: iptables refuses
    (u"\u00e9th01234567890a", "at most 15"),  # 15 characters, 16 bytes
])
def test_interface_names_follow_the_kernel(iface, why):
    for kwargs in ({"bridges": [iface]}, {}):
        entries = [entry(interfaces=[iface])] if not kwargs else [entry()]
        with pytest.raises(policy.PolicyError) as err:
            policy.validate(entries, **kwargs)
        assert repr(iface) in str(err.value) and why in str(err.value), str(err.value)


@pytest.mark.parametrize("iface", ["eth0", "eth0.100", "br-+", "wg+", "+", "veth1234567890a",
                                   "veth123456789a+", "docker_gwbridge", "en@x", "a..b"])
def test_interface_names_linux_accepts_still_pass(iface):
    assert policy.validate([entry(interfaces=[iface])])["entries"][0]["interfaces"] == [iface]


@pytest.mark.parametrize("kwargs, entries, named", [
    ({}, [entry(name="web\n")], "'web\\n'"),
    ({"chain": "DOCKERGUARD\n"}, [entry()], "'DOCKERGUARD\\n'"),
    ({"chain": "DOCKERGUARD-IN\n"}, [entry()], "'DOCKERGUARD-IN\\n'"),
    ({}, [entry(ports=["8080\n8081"])], "8080\\n8081"),
])
def test_a_trailing_newline_is_refused(kwargs, entries, named):
    with pytest.raises(policy.PolicyError) as err:
        policy.validate(entries, **kwargs)
    assert named in str(err.value)


@pytest.mark.parametrize("second, covered", [
    (entry(name="b", allow=["10.99.0.0/16"]), "8080/tcp"),
    (entry(name="b", ports=["8000-8100"], allow=["10.99.0.0/16"]), "8080/tcp"),
    (entry(name="b", protocol="all", allow=["10.99.0.0/16"]), "8080/tcp"),
    (entry(name="b", interfaces=["eth+"], allow=["10.99.0.0/16"]), "8080/tcp"),
    (entry(name="b", allow=["10.250.0.0/24", "10.99.0.0/16"]), "8080/tcp"),
    (entry(name="b", action="reject"), "8080/tcp"),
])
def test_two_entries_on_one_port_with_different_allow_lists_are_refused(second, covered):
    """The first entry's deny would drop the second entry's sources: refused, naming both
    entries and the port, rather than merged behind the user's back."""
    first = entry(name="a", interfaces=["eth0"]) if second.get("interfaces") else entry(name="a")
    with pytest.raises(policy.PolicyError) as err:
        policy.validate([first, second])
    text = str(err.value)
    assert "entries[1] ('a')" in text and "entries[2] ('b')" in text and covered in text, text


@pytest.mark.parametrize("second", [
    entry(name="b", protocol="udp", allow=["10.99.0.0/16"]),      # another protocol
    entry(name="b", ports=[8081], allow=["10.99.0.0/16"]),        # another port
    entry(name="b", ports=["8081-8090"], allow=["10.99.0.0/16"]),
    entry(name="b", allow=["10.250.0.0/24"]),                     # the same allow-list
    entry(name="b", allow=["10.250.0.0/24", "10.250.0.0/24"]),
])
def test_entries_that_do_not_overlap_or_agree_pass(second):
    assert len(policy.validate([entry(name="a"), second])["entries"]) == 2


def test_entries_on_different_interfaces_do_not_overlap():
    pol = policy.validate([entry(name="a", interfaces=["eth0"]),
                           entry(name="b", interfaces=["eth1", "wg+"], allow=["10.99.0.0/16"])])
    assert len(pol["entries"]) == 2
