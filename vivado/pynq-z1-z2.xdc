# Constraints of the PYNQ-Z1 / PYNQ-Z2 overlay built by bnntool.
# The accelerator uses no package pins: it talks to the PS over AXI only, and its clock comes
# from the PS (FCLK_CLK0), which Vivado constrains itself. So no constraint is active here.
