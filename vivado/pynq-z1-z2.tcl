# Zynq-7000 processing system of the PYNQ-Z1 and PYNQ-Z2 (xc7z020clg400-1), for bnntool's
# project script. FCLK_CLK0..3 = 100, 142.86, 200, 166.67 MHz; the accelerator and its
# interconnects run on FCLK_CLK0. M_AXI_GP0 drives the accelerator's registers, the 64-bit
# S_AXI_HP0 port gives it the image and result buffers in DDR.

set ps_cell processing_system7_0
create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 $ps_cell
set_property -dict [list \
    CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ {50} \
    CONFIG.PCW_UIPARAM_DDR_PARTNO {MT41K256M16 RE-125} \
    CONFIG.PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit} \
    CONFIG.PCW_EN_CLK0_PORT {1} \
    CONFIG.PCW_EN_CLK1_PORT {1} \
    CONFIG.PCW_EN_CLK2_PORT {1} \
    CONFIG.PCW_EN_CLK3_PORT {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100} \
    CONFIG.PCW_FPGA1_PERIPHERAL_FREQMHZ {142.857132} \
    CONFIG.PCW_FPGA2_PERIPHERAL_FREQMHZ {200} \
    CONFIG.PCW_FPGA3_PERIPHERAL_FREQMHZ {166.666672} \
    CONFIG.PCW_USE_M_AXI_GP0 {1} \
    CONFIG.PCW_USE_S_AXI_HP0 {1} \
    CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
    CONFIG.PCW_EN_RST0_PORT {1} \
] [get_bd_cells $ps_cell]
# DDR and the fixed MIO pins become ports of the block design
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" Master "Disable" Slave "Disable"} [get_bd_cells $ps_cell]

set ps_master M_AXI_GP0
set ps_slave S_AXI_HP0
set ps_clock FCLK_CLK0
set ps_reset FCLK_RESET0_N
set ps_aclk_pins {M_AXI_GP0_ACLK S_AXI_HP0_ACLK}
set ps_data_space Data
