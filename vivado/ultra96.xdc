# Constraints of the Ultra96 overlay built by bnntool.
# The accelerator uses no package pins: it talks to the PS over AXI only, and its clock comes
# from the PS (pl_clk2), which Vivado constrains itself. BNN-PYNQ's Ultra96 design also brought
# the PS UART1, GPIO and Bluetooth flow-control lines out to pins; bnntool's block design does
# not create those ports, so no pin constraint is active here.
