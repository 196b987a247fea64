"""A deliberately simple, hand-written design that follows the generated-design contract.

It lets the network testbench be tested on its own, independently of the generator in hw/:
an FSM accepts an input frame beat by beat, computes every ``binary_dense`` layer in one
combinational cycle (XNOR, a popcount function, multi-threshold compare), and sends the output
frame beat by beat. Nothing overlaps, so the timing is exact and known:

    cycles_per_frame = beats_in + 1 + beats_out,   latency_cycles = beats_in + beats_out - 1

(latency counts clock edges from the one that accepts the first input beat to the one after
which the last output beat is valid). Only for small networks: the Verilog grows with in_width * out_width.
"""

from __future__ import annotations

from pathlib import Path

from bitwave.core import contract, ir
from bitwave.core.contract import Clock, Folding, Layer, Manifest, Port, Reset, Stream, Targets
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import sanitize_identifier, write_text

_CLAMP = 2**31 - 1
CLOCK_MHZ = 100.0


def _literal(value: int) -> str:
    value = max(-_CLAMP, min(_CLAMP, int(value)))
    return f"-32'sd{-value}" if value < 0 else f"32'sd{value}"


def _layer_verilog(index: int, layer: ir.BinaryDense, source: str) -> tuple[list[str], str]:
    """Declarations computing one layer from the wire ``source``; returns (lines, result wire)."""
    n, k = layer.in_width, layer.out_type.bits
    bits = layer.weight_bits()
    lines = [f"  wire [{layer.out_width * k - 1}:0] l{index}_out;"]
    for m in range(layer.out_width):
        # weight bit i of neuron m is Verilog bit i of the literal (MSB written first)
        literal = "".join(str(int(b)) for b in bits[m][::-1])
        compare = ">=" if layer.direction[m] > 0 else "<="
        terms = " + ".join(
            f"(l{index}_acc{m} {compare} {_literal(t)})" for t in layer.thresholds[m]
        )
        lines += [
            f"  wire signed [31:0] l{index}_acc{m} = popcount_l{index}(~({source} ^ {n}'b{literal}));",
            f"  assign l{index}_out[{m * k + k - 1}:{m * k}] = {terms};",
        ]
    function = [
        f"  function [31:0] popcount_l{index}(input [{n - 1}:0] v);",
        "    integer i;",
        "    begin",
        f"      popcount_l{index} = 0;",
        f"      for (i = 0; i < {n}; i = i + 1) popcount_l{index} = popcount_l{index} + v[i];",
        "    end",
        "  endfunction",
    ]
    return function + lines, f"l{index}_out"


def reference_verilog(net: ir.Network, top: str, in_beat: int, out_beat: int) -> str:
    n_in, n_out = net.input_width, net.output_width * net.output_type.bits
    k_in, k_out = -(-n_in // in_beat), -(-n_out // out_beat)
    body: list[str] = []
    source = f"in_buf[{n_in - 1}:0]"
    for index, layer in enumerate(net.layers):
        lines, source = _layer_verilog(index, layer, source)
        body += lines
    pad = k_out * out_beat - n_out
    padded = f"{{{{{pad}{{1'b0}}}}, {source}}}" if pad else source
    return "\n".join(
        [
            f"// Hand-written reference design for IR {net.name} (bitwave.sim.reference_design)",
            f"module {top}(",
            "  input clk, input rst,",
            f"  input [{in_beat - 1}:0] in_data, input in_valid, output in_ready,",
            f"  output [{out_beat - 1}:0] out_data, output out_valid, input out_ready);",
            "  localparam LOAD = 2'd0, COMPUTE = 2'd1, SEND = 2'd2;",
            "  reg [1:0] state;",
            "  reg [15:0] index;",
            f"  reg [{k_in * in_beat - 1}:0] in_buf;",
            f"  reg [{k_out * out_beat - 1}:0] out_buf;",
            *body,
            "  assign in_ready = state == LOAD;",
            "  assign out_valid = state == SEND;",
            f"  assign out_data = out_buf[index * {out_beat} +: {out_beat}];",
            "  always @(posedge clk) begin",
            "    if (rst) begin state <= LOAD; index <= 0; end",
            "    else case (state)",
            "      LOAD: if (in_valid) begin",
            f"        in_buf[index * {in_beat} +: {in_beat}] <= in_data;",
            f"        if (index == {k_in - 1}) begin index <= 0; state <= COMPUTE; end",
            "        else index <= index + 1;",
            "      end",
            f"      COMPUTE: begin out_buf <= {padded}; state <= SEND; end",
            "      SEND: if (out_ready) begin",
            f"        if (index == {k_out - 1}) begin index <= 0; state <= LOAD; end",
            "        else index <= index + 1;",
            "      end",
            "      default: state <= LOAD;",
            "    endcase",
            "  end",
            "endmodule",
            "",
        ]
    )


def write_reference_design(
    net: ir.Network, out: str | Path, in_beat: int = 8, out_beat: int = 8
) -> Path:
    """Write DIR (model.bwir, rtl/<top>.v, manifest.json, <top>.core) for ``net``."""
    if any(not isinstance(layer, ir.BinaryDense) for layer in net.layers):
        raise BitwaveError("the reference design handles binary_dense layers only")
    if any(layer.out_type != ir.BIPOLAR for layer in net.layers[:-1]):
        raise BitwaveError("the reference design needs bipolar hidden layers")
    out = Path(out)
    top = sanitize_identifier(f"ref_{net.name}")
    out.mkdir(parents=True, exist_ok=True)
    ir.save(net, out / "model.bwir")
    write_text(out / "rtl" / f"{top}.v", reference_verilog(net, top, in_beat, out_beat))
    contract.write(_manifest(net, top, ir.load(out / "model.bwir").sha256, in_beat, out_beat), out)
    write_text(out / f"{top}.core", _core_text(top))
    return out


def _manifest(net: ir.Network, top: str, sha256: str, in_beat: int, out_beat: int) -> Manifest:
    source = Stream.carrying(("in_data", "in_valid", "in_ready"), in_beat,
                             net.input_type.bits, net.input_width)  # fmt: skip
    sink = Stream.carrying(("out_data", "out_valid", "out_ready"), out_beat,
                           net.output_type.bits, net.output_width)  # fmt: skip
    ports = [("clk", "input", 1), ("rst", "input", 1), ("in_data", "input", in_beat),
             ("in_valid", "input", 1), ("in_ready", "output", 1), ("out_data", "output", out_beat),
             ("out_valid", "output", 1), ("out_ready", "input", 1)]  # fmt: skip
    cycles = source.beats_per_frame + 1 + sink.beats_per_frame
    latency = source.beats_per_frame + sink.beats_per_frame - 1
    layers = tuple(
        Layer(name=layer.name, module=top, op=layer.op, in_width=layer.in_width,
              out_width=layer.out_width, pe=layer.out_width, simd=layer.in_width,
              cycles_per_frame=cycles, initiation_interval=cycles, latency_cycles=latency,
              weight_storage="const", padded=False)
        for layer in net.layers
    )  # fmt: skip
    return Manifest(
        top=top, ir_sha256=sha256, ir_name=net.name, clock=Clock("clk", CLOCK_MHZ),
        reset=Reset("rst"), ports=tuple(Port(*port) for port in ports),
        input_stream=source, output_stream=sink, layers=layers,
        cycles_per_frame=cycles, latency_cycles=latency,
        targets=Targets(CLOCK_MHZ, None, CLOCK_MHZ * 1e6 / cycles),
        folding=Folding("explicit", "reference design (not folded)"),
    )  # fmt: skip


def _core_text(top: str) -> str:
    """A FuseSoC core naming the Verilog (the reference design has no lint waivers)."""
    targets = "".join(
        f"  {t}:\n    filesets: [rtl]\n    toplevel: {top}\n" for t in ("default", "sim", "lint")
    )
    return (
        f"CAPI=2:\nname: bitwave:generated:{top}:0.1.0\n"
        f"filesets:\n  rtl:\n    files: [rtl/{top}.v]\n    file_type: verilogSource\n"
        f"targets:\n{targets}"
    )
