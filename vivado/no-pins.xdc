# Constraints of an overlay built by bnntool for a Zynq UltraScale+ board.
# The accelerator uses no package pins: it talks to the PS over AXI only, and its clock comes
# from a PS PL clock, which Vivado constrains itself. So no constraint is active here.
