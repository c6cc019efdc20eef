//! failback-steps: see ../shared/DESIGN.md section 2.
