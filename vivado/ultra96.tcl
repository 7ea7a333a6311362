# Zynq UltraScale+ processing system of the Avnet Ultra96 (xczu3eg-sbva484-1-i), for bnntool's
# project script. PL clocks from the IOPLL (1500 MHz) with dividers 15, 60, 5, 4: pl_clk0..3 =
# 100, 25, 300, 375 MHz; the accelerator and its interconnects run on pl_clk2 (about 300 MHz).
# M_AXI_HPM0_FPD drives the accelerator's registers, the 64-bit S_AXI_HP0_FPD port gives it the
# image and result buffers in DDR.

set ps_cell zynq_ultra_ps_e_0
create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e:3.3 $ps_cell
set_property -dict [list \
    CONFIG.PSU__DDRC__DEVICE_TYPE {LPDDR 4} \
    CONFIG.PSU__DDRC__BUS_WIDTH {32 Bit} \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} \
    CONFIG.PSU__FPGA_PL1_ENABLE {1} \
    CONFIG.PSU__FPGA_PL2_ENABLE {1} \
    CONFIG.PSU__FPGA_PL3_ENABLE {1} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__SRCSEL {IOPLL} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__DIVISOR0 {15} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__DIVISOR1 {1} \
    CONFIG.PSU__CRL_APB__PL1_REF_CTRL__SRCSEL {IOPLL} \
    CONFIG.PSU__CRL_APB__PL1_REF_CTRL__DIVISOR0 {15} \
    CONFIG.PSU__CRL_APB__PL1_REF_CTRL__DIVISOR1 {4} \
    CONFIG.PSU__CRL_APB__PL2_REF_CTRL__SRCSEL {IOPLL} \
    CONFIG.PSU__CRL_APB__PL2_REF_CTRL__DIVISOR0 {5} \
    CONFIG.PSU__CRL_APB__PL2_REF_CTRL__DIVISOR1 {1} \
    CONFIG.PSU__CRL_APB__PL3_REF_CTRL__SRCSEL {IOPLL} \
    CONFIG.PSU__CRL_APB__PL3_REF_CTRL__DIVISOR0 {4} \
    CONFIG.PSU__CRL_APB__PL3_REF_CTRL__DIVISOR1 {1} \
    CONFIG.PSU__USE__M_AXI_GP0 {1} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} \
    CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} \
    CONFIG.PSU__SAXIGP2__DATA_WIDTH {64} \
] [get_bd_cells $ps_cell]

set ps_master M_AXI_HPM0_FPD
set ps_slave S_AXI_HP0_FPD
set ps_clock pl_clk2
set ps_reset pl_resetn0
set ps_aclk_pins {maxihpm0_fpd_aclk saxihp0_fpd_aclk}
set ps_data_space Data
