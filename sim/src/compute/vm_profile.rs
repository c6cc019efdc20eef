//! A VM's OS profile as ARM validates it: computer name, admin user name, admin password.
//! Returns the computer name.

use crate::envelope::{get_ci, str_ci, ArmError};
use serde_json::Value;

const BAD_USERNAMES: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
    "test",
    "test1",
    "test2",
    "test3",
    "admin1",
    "admin2",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
];
const BAD_PASSWORDS: &[&str] = &[
    "abc@123",
    "P@$$w0rd",
    "P@ssw0rd",
    "P@ssword123",
    "Pa$$word",
    "pass@word1",
    "Password!",
    "Password1",
    "Password22",
    "iloveyou!",
];

fn invalid(target: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg).target(target)
}

/// Checks `osProfile` (Windows rules when `windows`); returns the computer name.
pub fn check_os_profile(props: &Value, windows: bool) -> Result<String, ArmError> {
    let os = get_ci(props, "osProfile").ok_or_else(|| {
        invalid(
            "osProfile",
            "Required parameter 'osProfile' is missing (null).",
        )
    })?;
    let cn = str_ci(os, "computerName").unwrap_or("").to_string();
    let max = if windows { 15 } else { 64 };
    if cn.is_empty() {
        return Err(invalid(
            "computerName",
            "Required parameter 'osProfile.computerName' is missing (null).",
        ));
    }
    if cn.len() > max
        || !cn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || cn.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid("computerName", format!("Computer name '{cn}' is invalid: {} computer names must be 1-{max} characters long, contain only letters, digits and hyphens and not be all digits.", if windows { "Windows" } else { "Linux" })));
    }
    let user = str_ci(os, "adminUsername").unwrap_or("");
    if user.is_empty() {
        return Err(invalid(
            "adminUsername",
            "Required parameter 'osProfile.adminUsername' is missing (null).",
        ));
    }
    if (windows && user.len() > 20)
        || user.ends_with('.')
        || BAD_USERNAMES.iter().any(|b| b.eq_ignore_ascii_case(user))
    {
        return Err(invalid(
            "adminUsername",
            "The Admin Username specified is not allowed.",
        ));
    }
    if windows {
        let pw = str_ci(os, "adminPassword").unwrap_or("");
        let classes = [
            pw.chars().any(|c| c.is_lowercase()),
            pw.chars().any(|c| c.is_uppercase()),
            pw.chars().any(|c| c.is_ascii_digit()),
            pw.chars().any(|c| !c.is_alphanumeric()),
        ];
        let ok = (8..=123).contains(&pw.chars().count())
            && classes.iter().filter(|b| **b).count() >= 3
            && !pw.chars().any(|c| c.is_control())
            && !BAD_PASSWORDS.contains(&pw);
        if !ok {
            return Err(invalid("adminPassword", "The supplied password must be between 8-123 characters long and must satisfy at least 3 of password complexity requirements from the following:\r\n1) Contains an uppercase character\r\n2) Contains a lowercase character\r\n3) Contains a numeric digit\r\n4) Contains a special character\r\n5) Control characters are not allowed"));
        }
    }
    Ok(cn)
}
