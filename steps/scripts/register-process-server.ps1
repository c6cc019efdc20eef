<#
.SYNOPSIS
  Installs the Azure Site Recovery unified setup in process-server mode on this VM and
  registers it with the on-premises configuration server. Run by `failback` through a
  managed Run Command (REFERENCE.md section 7); the passphrase arrives as a protected
  parameter and lives on disk only while setup runs.

.EXIT CODES
  0  registered (or already registered with this configuration server)
  2  a required parameter is missing
  3  the configuration server rejected the passphrase
  4  the configuration server is not reachable on its port
  5  the installer could not be found or downloaded
  6  setup failed (see C:\ProgramData\ASRSetupLogs)
#>
param(
  [Parameter(Mandatory = $true)][string]$ConfigurationServerIp,
  [int]$ConfigurationServerPort = 443,
  [int]$DataTransferSecurePort = 9443,
  [string]$InstallerUri = "",
  [string]$ProcessServerName = $env:COMPUTERNAME,
  # Set by failback so that a retried registration is a changed Run Command (ARM re-runs it).
  [string]$FailbackAttempt = "",
  [Parameter(Mandatory = $true)][string]$Passphrase
)
$ErrorActionPreference = "Stop"
function Fail([int]$code, [string]$message) { Write-Error $message -ErrorAction Continue; exit $code }

if (-not $ConfigurationServerIp) { Fail 2 "ConfigurationServerIp is required" }
if (-not $Passphrase) { Fail 2 "Passphrase is required" }

# Already registered? cdpcli reports the configuration server this agent talks to.
$agent = Join-Path $env:ProgramData "ASR\Agent\cdpcli.exe"
if (Test-Path $agent) {
  $status = & $agent --showreplicationconfig 2>$null | Out-String
  if ($status -match [regex]::Escape($ConfigurationServerIp)) {
    Write-Output "FAILBACK: already registered with $ConfigurationServerIp"
    exit 0
  }
}

# The configuration server must be reachable before anything is installed.
$probe = Test-NetConnection -ComputerName $ConfigurationServerIp -Port $ConfigurationServerPort -WarningAction SilentlyContinue
if (-not $probe.TcpTestSucceeded) { Fail 4 "cannot reach $($ConfigurationServerIp):$ConfigurationServerPort" }

$work = Join-Path $env:TEMP "failback-ps"
New-Item -ItemType Directory -Force -Path $work | Out-Null
$installer = Join-Path $work "MicrosoftAzureSiteRecoveryUnifiedSetup.exe"
try {
  if ($InstallerUri) {
    Invoke-WebRequest -UseBasicParsing -Uri $InstallerUri -OutFile $installer
  } elseif (Test-Path "C:\Installers\MicrosoftAzureSiteRecoveryUnifiedSetup.exe") {
    Copy-Item "C:\Installers\MicrosoftAzureSiteRecoveryUnifiedSetup.exe" $installer
  } else {
    Fail 5 "no installer: set process_server.installer_uri or bake it into the image under C:\Installers"
  }
} catch { Fail 5 "installer download failed: $($_.Exception.Message)" }

$extracted = Join-Path $work "Extracted"
& $installer /q /x:$extracted | Out-Null

# The passphrase goes to a file only for the duration of setup, readable by SYSTEM only.
$passFile = Join-Path $work "passphrase.txt"
try {
  Set-Content -Path $passFile -Value $Passphrase -NoNewline -Encoding ASCII
  icacls $passFile /inheritance:r /grant:r "SYSTEM:(R)" | Out-Null
  $setup = Join-Path $extracted "UnifiedSetup.exe"
  $args = @("/AcceptThirdpartyEULA", "/servermode", "PS", "/InstallLocation", "D:\",
            "/EnvType", "VMWare", "/CSIP", $ConfigurationServerIp,
            "/PassphraseFilePath", $passFile, "/DataTransferSecurePort", $DataTransferSecurePort)
  $p = Start-Process -FilePath $setup -ArgumentList $args -Wait -PassThru
  switch ($p.ExitCode) {
    0 { Write-Output "FAILBACK: registered $ProcessServerName with $ConfigurationServerIp" }
    3 { Fail 3 "the configuration server rejected the passphrase" }
    default { Fail 6 "UnifiedSetup exited with $($p.ExitCode)" }
  }
} finally {
  Remove-Item -Force -ErrorAction SilentlyContinue $passFile
}
exit 0
