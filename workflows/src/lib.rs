//! failback-workflows: see ../shared/DESIGN.md section 2.
