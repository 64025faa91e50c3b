"""Services: I/O shared by every module (passwords, captcha, totp, mail, attachments, xlsx)."""
