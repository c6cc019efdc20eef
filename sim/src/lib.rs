//! failback-sim: see ../shared/DESIGN.md section 2.
