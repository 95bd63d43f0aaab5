import zlib, struct, sys
src, dst, y0, y1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = open(src, 'rb').read()
pos = 8; idat = b''; ihdr = None
while pos < len(d):
    n, = struct.unpack('>I', d[pos:pos+4]); t = d[pos+4:pos+8]; c = d[pos+8:pos+8+n]; pos += 12 + n
    if t == b'IHDR': ihdr = c
    elif t == b'IDAT': idat += c
w, h, bd, ct = struct.unpack('>IIBB', ihdr[:10])
bpp = {2: 3, 6: 4}[ct]
raw = zlib.decompress(idat); stride = w * bpp
rows = []; prev = bytearray(stride); i = 0
for y in range(h):
    f = raw[i]; line = bytearray(raw[i+1:i+1+stride]); i += 1 + stride
    for x in range(stride):
        a = line[x-bpp] if x >= bpp else 0; b = prev[x]; cc = prev[x-bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - cc; pa, pb, pc = abs(p-a), abs(p-b), abs(p-cc)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
    rows.append(bytes(line)); prev = line
    if y >= y1: break
out = b''.join(b'\0' + r for r in rows[y0:y1])
def chunk(t, c): return struct.pack('>I', len(c)) + t + c + struct.pack('>I', zlib.crc32(t + c) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, y1 - y0, 8, ct, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(out)) + chunk(b'IEND', b'')
open(dst, 'wb').write(png)
