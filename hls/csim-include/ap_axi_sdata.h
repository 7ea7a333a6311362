// bnntool's stand-in for the single name from the HLS tools' ap_axi_sdata.h that finn-hlslib
// cc8db47 uses: the AXI-stream word type qdma_axis, in the signatures of streamtools.h's
// Qdma2Stream_Batch and Stream2Qdma_Batch, which bnntool's overlays do not call.
//
// Only the g++ C simulation (`bnntool build --stage csim` without an HLS tool) puts this folder on
// the include path, and only when the ap_types folder has no ap_axi_sdata.h of its own (the
// hls4ml wheel's has none). Vitis HLS and Vivado HLS use their own header. The type is declared,
// not defined: code that used it would fail to compile here rather than simulate something else.
#ifndef BNNTOOL_AP_AXI_SDATA_STANDIN_H
#define BNNTOOL_AP_AXI_SDATA_STANDIN_H

template <int D, int U, int TI, int TD>
struct qdma_axis;

#endif
