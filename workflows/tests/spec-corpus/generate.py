#!/usr/bin/env python3
"""Regenerates bad/*.toml and bad/*.expect: one defect each, applied to BASE.

The expected position is where the defect is in the mutated text (the first character of
ANCHOR's n-th occurrence, or just after it for AFTER), found here, independently of the Rust
code. Run from anywhere: python3 workflows/tests/spec-corpus/generate.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

BASE = '''# failback spec (corpus base)
[azure]
cloud = "public"
subscription_id = "0f4c2e5a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"

[azure.credential]
kind = "cli"

[site_recovery]
resource_group = "rg-asr"
vault = "asr-vault"
fabric = "cs-fabric"

[process_server]
name_prefix = "ps"
size = "Standard_A8_v2"
os_disk_type = "StandardSSD_LRS"
cache_disk_gb = 600
admin_username = "failbackadmin"
admin_password = { env = "FAILBACK_TEST_PS_PASSWORD" }

[configuration_server]
ip = "10.0.0.10"
port = 443
data_port = 9443
passphrase = { env = "FAILBACK_TEST_CS_PASSPHRASE" }

[[network]]
resource_group = "rg-net"
vnet = "vnet-a"
subnet = "default"
region = "westeurope"
private_ip = "10.1.0.10"
subnet_prefix = "10.1.0.0/24"

[failback]
protected_items = ["vm-1", "vm-2"]
poll_interval = "5m"
deadline = "21d"

[teardown]
policy = "delete"
force_deletion = true
'''

SECOND = '''
[[network]]
name = "{name}"
resource_group = "rg-net"
vnet = "{vnet}"
subnet = "default"
region = "westeurope"
private_ip = "{ip}"
'''


def second(name="vnet-b", vnet="vnet-b", ip="10.1.0.11"):
    return lambda t: t.replace("\n[failback]", SECOND.format(name=name, vnet=vnet, ip=ip) + "\n[failback]")


def rep(old, new):
    def f(t):
        assert old in t, old
        return t.replace(old, new, 1)
    return f


def drop(line):
    return rep(line + "\n", "")


# (file, mutation, anchor, occurrence (1-based; 0 = at offset 0), after?, field, message substring)
CASES = [
    ("syntax-unclosed-table", rep("[site_recovery]", "[site_recovery"), "[site_recovery", 1, True, "(syntax)", "unclosed table"),
    ("syntax-duplicate-key", rep('vault = "asr-vault"\n', 'vault = "asr-vault"\nvault = "other"\n'), "vault =", 2, False, "(syntax)", "duplicate key"),
    ("syntax-unterminated-string", rep('fabric = "cs-fabric"', 'fabric = "cs-fabric'), '"cs-fabric', 1, True, "(syntax)", "invalid TOML"),
    ("syntax-bad-number", rep("cache_disk_gb = 600", "cache_disk_gb = 6OO"), "6OO", 1, False, "(syntax)", "invalid TOML"),
    ("syntax-json", lambda t: '{ "azure": { "cloud": "public" } }\n', "{", 1, False, "(syntax)", "invalid TOML"),
    ("unknown-key-top", lambda t: t + "\n[extras]\nfoo = 1\n", "extras", 1, False, "extras", "unknown key `extras`"),
    ("unknown-key-network", rep('subnet = "default"', 'subnet = "default"\ngateway = "10.1.0.1"'), "gateway", 1, False, "network[0].gateway", "unknown key `gateway`"),
    ("unknown-key-typo", rep('cache_disk_gb = 600', 'cache_disk_gb = 600\nos_disk_typ = "Standard_LRS"'), "os_disk_typ ", 1, False, "process_server.os_disk_typ", "did you mean `os_disk_type`"),
    ("unknown-key-secret", rep('{ env = "FAILBACK_TEST_PS_PASSWORD" }', '{ env = "FAILBACK_TEST_PS_PASSWORD", vault = "x" }'), "vault = \"x\"", 1, False, "process_server.admin_password.vault", "unknown key `vault`"),
    ("wrong-type-port", rep("port = 443", 'port = "443"'), '"443"', 1, False, "configuration_server.port", 'expected an integer, found the string "443"'),
    ("wrong-type-bool", rep("force_deletion = true", 'force_deletion = "yes"'), '"yes"', 1, False, "teardown.force_deletion", "expected a boolean"),
    ("wrong-type-section", lambda t: 'teardown = "delete"\n' + t.replace('\n[teardown]\npolicy = "delete"\nforce_deletion = true\n', ""), '"delete"', 1, False, "teardown", "expected a table"),
    ("wrong-type-network-table", rep("[[network]]", "[network]"), "[network]", 1, False, "network", "expected an array of tables ([[network]])"),
    ("wrong-type-secret-string", rep('admin_password = { env = "FAILBACK_TEST_PS_PASSWORD" }', 'admin_password = "Secr3t-Passw0rd!"'), '"Secr3t', 1, False, "process_server.admin_password", "found a string; the secret itself never goes in the spec"),
    ("wrong-type-protected-item", rep('["vm-1", "vm-2"]', '["vm-1", 2]'), "2]", 1, False, "failback.protected_items[1]", "expected a string, found the integer 2"),
    ("bad-cidr", rep('"10.1.0.0/24"', '"10.1.0.0/33"'), '"10.1.0.0/33"', 1, False, "network[0].subnet_prefix", "is not a CIDR prefix"),
    ("cidr-host-bits", rep('"10.1.0.0/24"', '"10.1.0.5/24"'), '"10.1.0.5/24"', 1, False, "network[0].subnet_prefix", "has host bits set; the subnet prefix is 10.1.0.0/24"),
    ("subnet-prefix-too-small", rep('"10.1.0.0/24"', '"10.1.0.8/30"'), '"10.1.0.8/30"', 1, False, "network[0].subnet_prefix", "smallest Azure subnet (/29)"),
    ("bad-ip", rep('private_ip = "10.1.0.10"', 'private_ip = "10.1.0.256"'), '"10.1.0.256"', 1, False, "network[0].private_ip", "is not an IPv4 address"),
    ("bad-cs-ip", rep('ip = "10.0.0.10"', 'ip = "cs.contoso.local"'), '"cs.contoso.local"', 1, False, "configuration_server.ip", "is not an IPv4 address"),
    ("ip-outside-subnet", rep('private_ip = "10.1.0.10"', 'private_ip = "10.2.0.3"'), '"10.2.0.3"', 1, False, "network[0].private_ip", "10.2.0.3 is not inside subnet 10.1.0.0/24"),
    ("ip-reserved-gateway", rep('private_ip = "10.1.0.10"', 'private_ip = "10.1.0.1"'), '"10.1.0.1"', 1, False, "network[0].private_ip", "default gateway"),
    ("ip-reserved-broadcast", rep('private_ip = "10.1.0.10"', 'private_ip = "10.1.0.255"'), '"10.1.0.255"', 1, False, "network[0].private_ip", "broadcast"),
    ("duplicate-network-name", second(name="vnet-a", vnet="vnet-b"), '"vnet-a"', 2, False, "network[1].name", 'network name "vnet-a" is already used by network[0]'),
    ("duplicate-vnet", second(name="second", vnet="VNET-A"), '"VNET-A"', 1, False, "network[1].vnet", "network[0] already uses vnet"),
    ("duplicate-ip", second(ip="10.1.0.10"), '"10.1.0.10"', 2, False, "network[1].private_ip", "10.1.0.10 is already the private_ip of network[0]"),
    ("missing-secret-env", rep("FAILBACK_TEST_PS_PASSWORD", "FAILBACK_TEST_UNSET_VAR"), "{ env", 1, False, "process_server.admin_password", "FAILBACK_TEST_UNSET_VAR: environment variable is not set"),
    ("missing-secret-file", rep('{ env = "FAILBACK_TEST_CS_PASSPHRASE" }', '{ file = "no-such-passphrase.secret" }'), "{ file", 1, False, "configuration_server.passphrase", "no-such-passphrase.secret"),
    ("empty-secret-file", rep('{ env = "FAILBACK_TEST_CS_PASSPHRASE" }', '{ file = "empty.secret" }'), "{ file", 1, False, "configuration_server.passphrase", "is empty"),
    ("secret-two-sources", rep('{ env = "FAILBACK_TEST_CS_PASSPHRASE" }', '{ env = "FAILBACK_TEST_CS_PASSPHRASE", file = "cs.secret" }'), "{ env = \"FAILBACK_TEST_CS", 1, False, "configuration_server.passphrase", "gives env and file"),
    ("secret-key-vault-http", rep('{ env = "FAILBACK_TEST_CS_PASSPHRASE" }', '{ key_vault = "http://fb-vault.vault.azure.net", name = "cs" }'), '"http://fb-vault', 1, False, "configuration_server.passphrase.key_vault", "must be https"),
    ("secret-key-vault-no-name", rep('{ env = "FAILBACK_TEST_CS_PASSPHRASE" }', '{ key_vault = "https://fb-vault.vault.azure.net" }'), "{ key_vault", 1, False, "configuration_server.passphrase.name", "names the secret"),
    ("weak-admin-password", rep('{ env = "FAILBACK_TEST_PS_PASSWORD" }', '{ file = "weak-password.secret" }'), "{ file", 1, False, "process_server.admin_password", "needs 3 of"),
    ("unknown-region", rep('region = "westeurope"', 'region = "westeurop"'), '"westeurop"', 1, False, "network[0].region", 'unknown Azure region "westeurop" (did you mean "westeurope"?)'),
    ("region-wrong-cloud", rep('region = "westeurope"', 'region = "chinaeast2"'), '"chinaeast2"', 1, False, "network[0].region", "belongs to the china cloud"),
    ("region-display-name", rep('region = "westeurope"', 'region = "West Europe"'), '"West Europe"', 1, False, "network[0].region", 'use the short lowercase region name "westeurope"'),
    ("bad-duration-unit", rep('poll_interval = "5m"', 'poll_interval = "5w"'), '"5w"', 1, False, "failback.poll_interval", "unknown unit 'w'"),
    ("bad-duration-type", rep('poll_interval = "5m"', "poll_interval = 300"), "300", 1, False, "failback.poll_interval", "expected a duration string"),
    ("bad-duration-order", rep('deadline = "21d"', 'deadline = "30m1h"'), '"30m1h"', 1, False, "failback.deadline", "largest first"),
    ("poll-interval-too-short", rep('poll_interval = "5m"', 'poll_interval = "5s"'), '"5s"', 1, False, "failback.poll_interval", "below the minimum 10s"),
    ("deadline-before-poll", rep('poll_interval = "5m"\ndeadline = "21d"', 'poll_interval = "2h"\ndeadline = "1h"'), '"1h"', 1, False, "failback.deadline", "1h must be longer than poll_interval 2h"),
    ("deadline-too-long", rep('deadline = "21d"', 'deadline = "400d"'), '"400d"', 1, False, "failback.deadline", "maximum 365d"),
    ("computer-name-too-long", rep('vnet = "vnet-a"', 'name = "production-weu"\nvnet = "vnet-a"'), '"production-weu"', 1, False, "network[0].name", "is 17 characters; Windows allows at most 15"),
    ("bad-network-name", rep('vnet = "vnet-a"', 'name = "VNet_A"\nvnet = "vnet-a"'), '"VNet_A"', 1, False, "network[0].name", "allowed: lowercase letters"),
    ("default-network-name-invalid", rep('vnet = "vnet-a"', 'vnet = "VNet_A"'), '"VNet_A"', 1, False, "network[0].name", "defaults to the vnet name"),
    ("bad-vnet-name", rep('vnet = "vnet-a"', 'name = "a"\nvnet = "vnet a"'), '"vnet a"', 1, False, "network[0].vnet", "is not a valid name"),
    ("premium-disk-on-a8v2", rep('os_disk_type = "StandardSSD_LRS"', 'os_disk_type = "Premium_LRS"'), '"Premium_LRS"', 1, False, "process_server.os_disk_type", "Standard_A8_v2 has none"),
    ("bad-disk-type", rep('os_disk_type = "StandardSSD_LRS"', 'os_disk_type = "Premium_ZRS"'), '"Premium_ZRS"', 1, False, "process_server.os_disk_type", 'expected one of "Standard_LRS", "StandardSSD_LRS", "Premium_LRS"'),
    ("gen2-image", rep('os_disk_type', 'image = { publisher = "MicrosoftWindowsServer", offer = "WindowsServer", sku = "2019-datacenter-gensecond" }\nos_disk_type'), '"2019-datacenter-gensecond"', 1, False, "process_server.image.sku", "Generation 2 image; Standard_A8_v2 supports Generation 1 only"),
    ("image-missing-offer", rep('os_disk_type', 'image = { publisher = "MicrosoftWindowsServer", sku = "2016-Datacenter" }\nos_disk_type'), "{ publisher", 1, False, "process_server.image.offer", "missing from [process_server.image]"),
    ("reserved-admin-username", rep('"failbackadmin"', '"Administrator"'), '"Administrator"', 1, False, "process_server.admin_username", "Azure refuses"),
    ("long-admin-username", rep('"failbackadmin"', '"failback-administrator"'), '"failback-administrator"', 1, False, "process_server.admin_username", "1 to 20 characters"),
    ("cache-disk-too-big", rep("cache_disk_gb = 600", "cache_disk_gb = 40000"), "40000", 1, False, "process_server.cache_disk_gb", "0 (no cache disk) to 32767"),
    ("bad-installer-uri", rep('cache_disk_gb = 600', 'cache_disk_gb = 600\ninstaller_uri = "setup.exe"'), '"setup.exe"', 1, False, "process_server.installer_uri", "is not a URL"),
    ("bad-guid", rep('"0f4c2e5a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"', '"0f4c2e5a-1b2c-4d3e-8f9a-0b1c2d3e4f5"'), '"0f4c2e5a', 1, False, "azure.subscription_id", "is not a GUID"),
    ("unknown-cloud", rep('cloud = "public"', 'cloud = "germany"'), '"germany"', 1, False, "azure.cloud", 'expected one of "public", "china", "usgov", "custom"'),
    ("custom-cloud-missing-endpoint", rep('cloud = "public"', 'cloud = "custom"\nauthority_host = "http://127.0.0.1:1"'), "[azure]", 1, False, "azure.resource_manager", 'required when cloud = "custom"'),
    ("custom-cloud-bad-url", rep('cloud = "public"', 'cloud = "custom"\nauthority_host = "ftp://127.0.0.1"\nresource_manager = "http://127.0.0.1:1"'), '"ftp://', 1, False, "azure.authority_host", "must be an http or https URL"),
    ("custom-cloud-url-userinfo", rep('cloud = "public"', 'cloud = "custom"\nauthority_host = "https://127.0.0.1:1"\nresource_manager = "https://user:pw@127.0.0.1:1"'), '"https://user', 1, False, "azure.resource_manager", "must not carry a user name or password"),
    ("custom-cloud-http-client-secret", lambda t: rep('cloud = "public"', 'cloud = "custom"\nauthority_host = "http://127.0.0.1:1"\nresource_manager = "http://127.0.0.1:1"')(rep('kind = "cli"', 'kind = "client-secret"\nclient_id = "11111111-2222-3333-4444-555555555555"\nclient_secret = { env = "FAILBACK_TEST_CS_PASSPHRASE" }')(t)), '"http://127.0.0.1:1"', 1, False, "azure.authority_host", "use https://. For the emulator, run `failback sim` without --no-tls"),
    ("client-secret-missing", rep('kind = "cli"', 'kind = "client-secret"\nclient_id = "11111111-2222-3333-4444-555555555555"'), "[azure.credential]", 1, False, "azure.credential.client_secret", 'required with kind = "client-secret"'),
    ("credential-forbidden-field", rep('kind = "cli"', 'kind = "cli"\nclient_id = "11111111-2222-3333-4444-555555555555"'), '"11111111', 1, False, "azure.credential.client_id", 'not used with kind = "cli"'),
    ("unknown-credential-kind", rep('kind = "cli"', 'kind = "password"'), '"password"', 1, False, "azure.credential.kind", "expected one of"),
    ("no-networks", lambda t: t[:t.index("[[network]]")] + t[t.index("[failback]"):], None, 0, False, "network", "no networks"),
    ("empty-network-list", lambda t: "network = []\n" + t[:t.index("[[network]]")] + t[t.index("[failback]"):], "[]", 1, False, "network", "no networks"),
    ("missing-section", lambda t: t.replace('[site_recovery]\nresource_group = "rg-asr"\nvault = "asr-vault"\nfabric = "cs-fabric"\n\n', ""), None, 0, False, "site_recovery", "missing table [site_recovery]"),
    ("missing-required-field", drop('vault = "asr-vault"'), "[site_recovery]", 1, False, "site_recovery.vault", "missing from [site_recovery]"),
    ("port-out-of-range", rep("data_port = 9443", "data_port = 70000"), "70000", 1, False, "configuration_server.data_port", "allowed 1 to 65535"),
    ("protected-items-empty", rep('["vm-1", "vm-2"]', "[]"), "[]", 1, False, "failback.protected_items", "the list is empty"),
    ("protected-items-duplicate", rep('["vm-1", "vm-2"]', '["vm-1", "vm-1"]'), '"vm-1"', 2, False, "failback.protected_items[1]", "listed twice"),
    ("protected-items-bad-word", rep('["vm-1", "vm-2"]', '"everything"'), '"everything"', 1, False, "failback.protected_items", 'expected "all" or a list'),
    ("bad-teardown-policy", rep('policy = "delete"', 'policy = "destroy"'), '"destroy"', 1, False, "teardown.policy", 'expected one of "delete", "keep"'),
]


def position(text, anchor, occurrence, after):
    if occurrence == 0:
        return 1, 1
    idx = -1
    for _ in range(occurrence):
        idx = text.index(anchor, idx + 1)
    if after:
        idx += len(anchor)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return line, col


def main():
    bad = os.path.join(HERE, "bad")
    os.makedirs(bad, exist_ok=True)
    for name, mutate, anchor, occ, after, field, msg in CASES:
        text = mutate(BASE)
        assert text != BASE, name
        line, col = position(text, anchor, occ, after)
        with open(os.path.join(bad, name + ".toml"), "w") as f:
            f.write(f"# {name}: one defect (see {name}.expect)\n" + text if not name.startswith("syntax-json") else text)
        # The header comment shifts everything by one line, except for the JSON file.
        shift = 0 if name.startswith("syntax-json") or occ == 0 else 1
        with open(os.path.join(bad, name + ".expect"), "w") as f:
            f.write(f"{line + shift}:{col}\n{field}\n{msg}\n")
    # Secret files the corpus points at (relative to the spec file).
    open(os.path.join(bad, "empty.secret"), "w").close()
    with open(os.path.join(bad, "weak-password.secret"), "w") as f:
        f.write("passwordpassword\n")
    with open(os.path.join(bad, "cs.secret"), "w") as f:
        f.write("cs-passphrase\n")
    print(f"{len(CASES)} bad specs")


if __name__ == "__main__":
    main()
