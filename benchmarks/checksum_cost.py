"""Cost of the per-tensor CRC-32 on a large model: save and load of LSTM(1024) x 3 + Dense(1),
and the CRC-32 of all its tensors alone (docs/FORMAT.md quotes the numbers).

Run: python benchmarks/checksum_cost.py
"""
import os
import statistics
import tempfile
import time
import zlib
from lstmkit import Sequential, load_model
from lstmkit.layers import LSTM, Dense
from lstmkit.saving import open_model_file

t = time.perf_counter()
model = Sequential([LSTM(1024, return_sequences=True, input_shape=(10, 1024)), LSTM(1024, return_sequences=True),
                    LSTM(1024), Dense(1)])
build = time.perf_counter() - t
size = sum(p.numel() * 4 for p in model.parameters())
folder = tempfile.mkdtemp()
path = os.path.join(folder, "big.lstmkit")
saves, loads, crcs = [], [], []
for _ in range(3):
    t = time.perf_counter(); model.save(path); saves.append(time.perf_counter() - t)
    t = time.perf_counter(); load_model(path); loads.append(time.perf_counter() - t)
    file = open_model_file(path); view = memoryview(file.data)
    t = time.perf_counter()
    for e in file.entries.values():
        zlib.crc32(view[file.data_start + e.start: file.data_start + e.end])
    crcs.append(time.perf_counter() - t)
m = statistics.median
print(f"params {size/4/1e6:.1f} M ({size/2**20:.0f} MiB); build {build:.2f} s")
print(f"save {m(saves):.3f} s, load {m(loads):.3f} s, CRC-32 of all tensors {m(crcs):.3f} s "
      f"({size/m(crcs)/1e9:.1f} GB/s): {m(crcs)/m(saves)*100:.0f}% of a save (computed once), "
      f"{m(crcs)/m(loads)*100:.0f}% of a load")
os.remove(path)
os.rmdir(folder)
