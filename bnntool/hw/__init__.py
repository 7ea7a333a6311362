"""Hardware from an overlay spec: config.h and HLS/Vivado sources (sources), the Vivado HLS and
Vivado driver (driver, tools, reports), boards, and the folding planner (plan)."""
