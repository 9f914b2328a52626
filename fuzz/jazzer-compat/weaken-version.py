# Marks one version a shared object needs (say GLIBC_2.38) weak, so the loader does not refuse
# the object when the system lacks it: its symbols of that version are then bound elsewhere
# (jazzer-compat/shim.cc). Usage: weaken-version.py FILE VERSION
import struct, sys
path, version = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, 'rb').read())
shoff, = struct.unpack_from('<Q', data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
sections = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
SHT_GNU_verneed = 0x6ffffffe
verneed = next(s for s in sections if s[1] == SHT_GNU_verneed)
strtab = sections[verneed[6]]  # sh_link: .dynstr
def name(off):
    start = strtab[4] + off
    return bytes(data[start:data.index(0, start)])
off = verneed[4]
done = False
while True:
    vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from('<HHIII', data, off)
    aux = off + vn_aux
    for _ in range(vn_cnt):
        vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from('<IHHII', data, aux)
        if name(vna_name) == version:
            struct.pack_into('<H', data, aux + 4, vna_flags | 2)  # VER_FLG_WEAK
            done = True
        aux += vna_next
    if not vn_next:
        break
    off += vn_next
assert done, 'version not needed'
open(path, 'wb').write(data)
