"""Hardware from an overlay spec: config.h and HLS/Vivado sources (sources) for a tool release
(releases), the HLS-tool and Vivado driver (driver, tools, reports), the g++ C simulation
(csim), boards, and the folding planner (plan)."""
