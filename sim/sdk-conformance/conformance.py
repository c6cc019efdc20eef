"""Drive failback-sim (HTTPS, its default) with Microsoft's official Azure SDKs for Python, at their DEFAULT
api-versions, and check what a failback does: a token through ClientSecretCredential, SKUs,
usages, VNet/subnet, IP availability, a NIC and a VM through their pollers, a run command, and
Site Recovery fabrics/items/jobs.

Environment (what `failback-sim` prints): FAILBACK_SIM_URL, FAILBACK_CA_FILE, AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_SUBSCRIPTION_ID; the SDK clients get the CA as
`connection_verify`, MSAL's own session takes it from REQUESTS_CA_BUNDLE (requests prefers
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE over a session's `verify`), so set that to the CA too. Prints one line per check and a
summary "sdk-conformance: N/M checks passed"; exits 1 if any failed.
Run by sim/tests/sdk_conformance.rs with the venv sim/sdk-conformance/setup.sh makes.
"""

import os
import sys
import time
import traceback

import jwt
import msal
import requests
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

BASE = os.environ["FAILBACK_SIM_URL"]
CA = os.environ["FAILBACK_CA_FILE"]
TENANT = os.environ["AZURE_TENANT_ID"]
CLIENT = os.environ["AZURE_CLIENT_ID"]
SECRET = os.environ["AZURE_CLIENT_SECRET"]
SUB = os.environ["AZURE_SUBSCRIPTION_ID"]
ARM_SCOPE = "https://management.azure.com/.default"
REGION = "westeurope"
NET_RG, VM_RG, ASR_RG, VAULT = "rg-network", "rg-failback", "rg-asr", "vault-failback"
VNET, SUBNET = "vnet-a", "default"

results = []


def check(name):
    def wrap(fn):
        def run(*args):
            try:
                detail = fn(*args)
                results.append((name, True))
                print(f"PASS {name}: {detail}", flush=True)
                return detail
            except Exception as e:  # a failed check is reported, the others still run
                results.append((name, False))
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc(limit=3, file=sys.stdout)
                return None

        return run

    return wrap


def credential(secret=SECRET):
    # An authority that is not login.microsoftonline.com needs disable_instance_discovery: MSAL
    # sends instance discovery for unknown hosts to login.microsoftonline.com, not to the authority.
    return ClientSecretCredential(
        TENANT, CLIENT, secret, authority=BASE, disable_instance_discovery=True, connection_verify=CA
    )


def mgmt(cls, cred):
    # No api_version argument: every operation group uses the SDK's default.
    return cls(cred, SUB, base_url=BASE, credential_scopes=[ARM_SCOPE], connection_verify=CA)


@check("token via ClientSecretCredential, RS256 signature verified against the JWKS")
def token(cred):
    t = cred.get_token(ARM_SCOPE)
    oidc = requests.get(f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration", verify=CA).json()
    keys = requests.get(oidc["jwks_uri"], verify=CA).json()["keys"]
    kid = jwt.get_unverified_header(t.token)["kid"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid))
    # Signature and audience; not iat/nbf/exp, which follow the emulator's accelerated clock.
    lax = {"verify_iat": False, "verify_nbf": False, "verify_exp": False}
    claims = jwt.decode(t.token, key.key, algorithms=["RS256"], audience="https://management.azure.com", options=lax)
    assert claims["tid"] == TENANT and claims["appid"] == CLIENT, claims
    return f"{len(keys)} signing key(s), expires_on {t.expires_on}"


@check("wrong secret raises ClientAuthenticationError with AADSTS7000215")
def wrong_secret():
    try:
        credential("not-the-secret").get_token(ARM_SCOPE)
    except ClientAuthenticationError as e:
        assert "AADSTS7000215" in str(e), str(e)
        return "refused"
    raise AssertionError("a wrong secret got a token")


@check("MSAL with instance discovery at the emulator")
def msal_instance_discovery():
    app = msal.ConfidentialClientApplication(
        CLIENT, SECRET, authority=f"{BASE}/{TENANT}",
        instance_discovery=f"{BASE}/common/discovery/instance", verify=CA,
    )
    r = app.acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in r, r
    return "token"


@check("resource SKUs")
def skus(compute):
    n = len(list(compute.resource_skus.list(filter=f"location eq '{REGION}'")))
    assert n > 0
    return f"{n} skus"


@check("usages")
def usages(compute):
    u = list(compute.usage.list(REGION))
    assert any(x.name.value == "cores" for x in u), [x.name.value for x in u]
    return f"{len(u)} usages"


@check("virtual network and subnet get")
def vnet(network):
    v = network.virtual_networks.get(NET_RG, VNET)
    s = network.subnets.get(NET_RG, VNET, SUBNET)
    assert s.id.lower().startswith(v.id.lower()), (v.id, s.id)
    return f"{v.name}/{s.name}"


@check("IP address availability")
def ip_availability(network):
    r = network.virtual_networks.check_ip_address_availability(NET_RG, VNET, ip_address="10.1.0.20")
    assert r.available is True, r
    return "10.1.0.20 available"


def nic_body(ip):
    subnet = f"/subscriptions/{SUB}/resourceGroups/{NET_RG}/providers/Microsoft.Network/virtualNetworks/{VNET}/subnets/{SUBNET}"
    return {"location": REGION, "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
        "primary": True, "privateIPAllocationMethod": "Static", "privateIPAddress": ip, "subnet": {"id": subnet}}}]}}


@check("NIC create/get/list/list_all/delete through pollers")
def nic_lifecycle(network):
    made = network.network_interfaces.begin_create_or_update(VM_RG, "sdk-nic", nic_body("10.1.0.21")).result()
    assert made.provisioning_state == "Succeeded", made.provisioning_state
    got = network.network_interfaces.get(VM_RG, "sdk-nic")
    in_rg = [n.name for n in network.network_interfaces.list(VM_RG)]
    in_sub = [n.name for n in network.network_interfaces.list_all()]
    assert "sdk-nic" in in_rg and "sdk-nic" in in_sub, (in_rg, in_sub)
    network.network_interfaces.begin_delete(VM_RG, "sdk-nic").result()
    try:
        network.network_interfaces.get(VM_RG, "sdk-nic")
        raise AssertionError("NIC still there after delete")
    except ResourceNotFoundError as e:
        assert VM_RG in str(e), str(e)
    return f"{got.ip_configurations[0].private_ip_address}; {len(in_rg)} in group, {len(in_sub)} in subscription"


def vm_body(nic_id):
    return {"location": REGION, "properties": {
        "hardwareProfile": {"vmSize": "Standard_A8_v2"},
        "storageProfile": {
            "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter", "version": "latest"},
            "osDisk": {"name": "sdk-vm-os", "createOption": "FromImage", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}, "deleteOption": "Delete"}},
        "osProfile": {"computerName": "sdk-vm", "adminUsername": "psadmin", "adminPassword": "Sdk-Passw0rd!x",
                      "windowsConfiguration": {"provisionVMAgent": True}},
        "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": True, "deleteOption": "Delete"}}]}}}


@check("VM create through its poller")
def vm_create(network, compute):
    nic = network.network_interfaces.begin_create_or_update(VM_RG, "sdk-vm-nic", nic_body("10.1.0.22")).result()
    vm = compute.virtual_machines.begin_create_or_update(VM_RG, "sdk-vm", vm_body(nic.id)).result()
    assert vm.provisioning_state == "Succeeded", vm.provisioning_state
    listed = [v.name for v in compute.virtual_machines.list_all()]
    assert "sdk-vm" in listed, listed
    return f"{vm.name} {vm.hardware_profile.vm_size}; {len(listed)} VM(s) in subscription"


@check("VM instance view (agent Ready)")
def vm_instance_view(compute):
    deadline = time.monotonic() + 30
    while True:
        iv = compute.virtual_machines.instance_view(VM_RG, "sdk-vm")
        agent = iv.vm_agent.statuses[0].display_status if iv.vm_agent and iv.vm_agent.statuses else None
        if agent == "Ready":
            return f"{[s.code for s in iv.statuses]}, agent {agent}"
        assert time.monotonic() < deadline, f"agent never Ready: {agent}"
        time.sleep(0.5)


@check("run command through its poller")
def run_command(compute):
    r = compute.virtual_machines.begin_run_command(
        VM_RG, "sdk-vm", {"commandId": "RunPowerShellScript", "script": ["Write-Output 'hello'"]}
    ).result()
    assert r.value and r.value[0].code.startswith("ComponentStatus/StdOut"), r
    return f"{len(r.value)} status(es)"


@check("VM delete through its poller")
def vm_delete(compute):
    compute.virtual_machines.begin_delete(VM_RG, "sdk-vm").result()
    try:
        compute.virtual_machines.get(VM_RG, "sdk-vm")
        raise AssertionError("VM still there after delete")
    except ResourceNotFoundError as e:
        assert "sdk-vm" in str(e) and VM_RG in str(e), str(e)
    return "deleted"


@check("Site Recovery fabrics, protected items, jobs")
def site_recovery(asr):
    fabrics = list(asr.replication_fabrics.list(ASR_RG, VAULT))
    items = list(asr.replication_protected_items.list(ASR_RG, VAULT))
    jobs = list(asr.replication_jobs.list(ASR_RG, VAULT))
    assert fabrics and items, (len(fabrics), len(items))
    f = asr.replication_fabrics.get(ASR_RG, VAULT, fabrics[0].name)
    return f"{len(fabrics)} fabric(s) ({f.name}), {len(items)} item(s), {len(jobs)} job(s)"


def main():
    started = time.monotonic()
    cred = credential()
    token(cred)
    wrong_secret()
    msal_instance_discovery()
    compute, network = mgmt(ComputeManagementClient, cred), mgmt(NetworkManagementClient, cred)
    skus(compute)
    usages(compute)
    vnet(network)
    ip_availability(network)
    nic_lifecycle(network)
    if vm_create(network, compute) is not None:
        vm_instance_view(compute)
        run_command(compute)
        vm_delete(compute)
    site_recovery(mgmt(SiteRecoveryManagementClient, cred))
    passed = sum(1 for _, ok in results if ok)
    print(f"sdk-conformance: {passed}/{len(results)} checks passed in {time.monotonic() - started:.1f}s")
    sys.exit(0 if passed == len(results) and len(results) == 13 else 1)


if __name__ == "__main__":
    main()
