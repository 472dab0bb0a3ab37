"""Reads the layout of ELF, PE and Mach-O executables (sections, loadable segments) with struct, cheaply.

pyelftools is not used for this: building its ELFFile costs ~5 ms per file and its section objects parse whole
symbol tables; the catalog walk hands every executable on a host to the binary parsers, so this reads only the
few hundred bytes of headers it needs.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass(frozen=True, slots=True)
class ExeSection:
    """A section of an executable: its name, virtual address and the bytes stored in the file."""

    name: str
    addr: int
    offset: int
    size: int
    segment: str = ""


@dataclass(slots=True)
class ExeLayout:
    """Where an executable's sections and segments lie; maps virtual addresses to file offsets."""

    fmt: str
    stream: BinaryIO
    #: (virtual address, bytes in file, file offset) of each loadable segment
    segments: list[tuple[int, int, int]] = field(default_factory=list)
    #: (file offset, size) of the first writable data area, where Go places build info
    data_start: tuple[int, int] | None = None
    _sections: list[ExeSection] | None = field(default_factory=list)
    #: ELF section headers (name offset, type, addr, offset, size) and the name table, decoded on demand:
    #: most executables on a host are asked for one or two sections by name, never for the whole list
    _elf_headers: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    _elf_names: bytes = b""

    @property
    def sections(self) -> list[ExeSection]:
        """Every section (for ELF, decoded on first use)."""
        if self._sections is None:
            self._sections = [self._elf_section(h) for h in self._elf_headers]
        return self._sections

    @property
    def has_sections(self) -> bool:
        return bool(self._elf_headers) if self._sections is None else bool(self._sections)

    def _elf_section(self, header: tuple[int, int, int, int, int]) -> ExeSection:
        sh_name, sh_type, addr, offset, size = header
        end = self._elf_names.find(b"\0", sh_name)
        name = self._elf_names[sh_name : end if end >= 0 else len(self._elf_names)].decode("latin-1")
        return ExeSection(name, addr, offset, 0 if sh_type == 8 else size)  # 8: SHT_NOBITS

    def section(self, name: str) -> ExeSection | None:
        """The first section called ``name`` (for Mach-O, in any segment)."""
        if self._sections is None:  # ELF: find where the name is stored, then the header pointing there
            wanted = name.encode("latin-1") + b"\0"
            names = self._elf_names
            positions = set()
            at = names.find(wanted)
            while at >= 0:
                positions.add(at)
                at = names.find(wanted, at + 1)
            for header in self._elf_headers:
                if header[0] in positions:
                    return self._elf_section(header)
            return None
        return next((s for s in self._sections if s.name == name), None)

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes (fewer at the end of the file) at file offset ``offset``."""
        if offset < 0 or size <= 0 or offset >= 1 << 48:  # damaged headers point anywhere
            return b""
        self.stream.seek(offset)
        return self.stream.read(size)

    def read_addr(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes at virtual address ``addr``, or None when no segment or section stores them."""
        areas = [*self.segments, *((s.addr, s.size, s.offset) for s in self.sections if s.addr)]
        for vaddr, filesz, offset in areas:
            if vaddr <= addr and addr + size <= vaddr + filesz:
                data = self.read(offset + addr - vaddr, size)
                return data if len(data) == size else None
        return None


def exe_layout(stream: BinaryIO, magic: bytes) -> ExeLayout | None:
    """The layout of an ELF, PE or Mach-O executable; None when unreadable."""
    try:
        if magic == b"\x7fELF":
            return _elf_layout(stream)
        if magic[:2] == b"MZ":
            return _pe_layout(stream)
        return _macho_layout(stream)
    except struct.error:
        return None


def _elf_layout(stream: BinaryIO) -> ExeLayout | None:
    """Program and section headers, read with struct."""
    layout = ExeLayout("elf", stream)
    ident = layout.read(0, 64)
    if len(ident) < 52 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    order = "<" if ident[5] == 1 else ">"
    wide = ident[4] == 2
    if wide:
        phoff, shoff = struct.unpack_from(order + "QQ", ident, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(order + "HHHHH", ident, 54)
    else:
        phoff, shoff = struct.unpack_from(order + "II", ident, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(order + "HHHHH", ident, 42)
    phdr = order + ("IIQQQQ" if wide else "IIIIIII")
    if struct.calcsize(phdr) <= phentsize <= 1024:
        raw = layout.read(phoff, phentsize * min(phnum, 4096))
        for i in range(len(raw) // phentsize):
            if wide:
                p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(phdr, raw, i * phentsize)
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, p_flags = struct.unpack_from(phdr, raw, i * phentsize)
            if p_type != 1:  # PT_LOAD
                continue
            layout.segments.append((p_vaddr, p_filesz, p_offset))
            if layout.data_start is None and p_flags & 2:  # PF_W
                layout.data_start = (p_offset, p_filesz)
    with contextlib.suppress(struct.error, IndexError):  # damaged section headers: segments still serve
        _elf_sections(layout, order, wide, shoff, shentsize, shnum, shstrndx)
    return layout


def _elf_sections(layout: ExeLayout, order: str, wide: bool, shoff: int, entsize: int, count: int,
                  strndx: int) -> None:
    """Read the section header table and its name table into the layout (names decoded on demand)."""
    fmt = order + ("IIQQQQI" if wide else "IIIIIII")
    if not shoff or not struct.calcsize(fmt) <= entsize <= 1024:
        return
    first = struct.unpack_from(fmt, layout.read(shoff, entsize))
    count = count or first[5]  # extended numbering keeps the count in section 0's sh_size
    raw = layout.read(shoff, entsize * min(count, 65536))
    headers = [struct.unpack_from(fmt, raw, i * entsize) for i in range(len(raw) // entsize)]
    if strndx == 0xFFFF:
        strndx = first[6]  # SHN_XINDEX: the index is in section 0's sh_link
    _, _, _, _, str_off, str_size, _ = headers[strndx]
    layout._elf_names = layout.read(str_off, min(str_size, 16 * 1024 * 1024))
    layout._elf_headers = [(h[0], h[1], h[3], h[4], h[5]) for h in headers]
    layout._sections = None


def _pe_layout(stream: BinaryIO) -> ExeLayout | None:
    stream.seek(0)
    head = stream.read(0x40)
    if len(head) < 0x40:
        return None
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    stream.seek(pe_offset)
    coff = stream.read(24)
    if coff[:4] != b"PE\0\0":
        return None
    nsections, opt_size = struct.unpack_from("<H", coff, 6)[0], struct.unpack_from("<H", coff, 20)[0]
    opt = stream.read(opt_size)
    (opt_magic,) = struct.unpack_from("<H", opt, 0)
    image_base = struct.unpack_from("<Q", opt, 24)[0] if opt_magic == 0x20B else struct.unpack_from("<I", opt, 28)[0]
    table = stream.read(40 * min(nsections, 96))
    layout = ExeLayout("pe", stream)
    for i in range(len(table) // 40):
        raw = table[i * 40 : i * 40 + 40]
        name = raw[:8].rstrip(b"\0").decode("latin-1")
        vsize, vaddr, raw_size, raw_ptr = struct.unpack_from("<IIII", raw, 8)
        (chars,) = struct.unpack_from("<I", raw, 36)
        size = min(vsize, raw_size) if vsize else raw_size
        sec = ExeSection(name, image_base + vaddr, raw_ptr, size)
        layout.sections.append(sec)
        layout.segments.append((sec.addr, sec.size, sec.offset))
        # initialised data, readable, writable: where the Go linker puts build info on Windows
        if layout.data_start is None and chars & 0xC0000040 == 0xC0000040:
            layout.data_start = (raw_ptr, size)
    return layout


_MACHO_MAGIC = {
    b"\xfe\xed\xfa\xce": (">", 32), b"\xfe\xed\xfa\xcf": (">", 64),
    b"\xce\xfa\xed\xfe": ("<", 32), b"\xcf\xfa\xed\xfe": ("<", 64),
}
_ZEROFILL_TYPES = {0x01, 0x0C, 0x12}


def _macho_layout(stream: BinaryIO) -> ExeLayout | None:
    stream.seek(0)
    base = 0
    magic = stream.read(4)
    if magic == b"\xca\xfe\xba\xbe":  # universal binary: read the first architecture's slice
        (count,) = struct.unpack(">I", stream.read(4))
        if not 0 < count <= 16:  # Java class files share this magic; their version is much larger
            return None
        base = struct.unpack_from(">I", stream.read(20), 8)[0]
        stream.seek(base)
        magic = stream.read(4)
    if magic not in _MACHO_MAGIC:
        return None
    endian, bits = _MACHO_MAGIC[magic]
    header = stream.read(24 if bits == 32 else 28)
    ncmds, cmds_size = struct.unpack_from(endian + "II", header, 12)
    cmds = stream.read(min(cmds_size, 16 * 1024 * 1024))
    layout = ExeLayout("macho", stream)
    pos = 0
    for _ in range(min(ncmds, 4096)):
        if pos + 8 > len(cmds):
            break
        cmd, size = struct.unpack_from(endian + "II", cmds, pos)
        if size < 8 or pos + size > len(cmds):
            break
        if cmd in (0x1, 0x19):
            _macho_segment(layout, cmds, pos, endian, wide=cmd == 0x19, base=base)
        pos += size
    return layout


def _macho_segment(layout: ExeLayout, cmds: bytes, pos: int, endian: str, wide: bool, base: int) -> None:
    segname = cmds[pos + 8 : pos + 24].rstrip(b"\0").decode("latin-1")
    fmt, sec_size, sec_start = (endian + "QQQQ", 80, 72) if wide else (endian + "IIII", 68, 56)
    vmaddr, _vmsize, fileoff, filesize = struct.unpack_from(fmt, cmds, pos + 24)
    (nsects,) = struct.unpack_from(endian + "I", cmds, pos + (64 if wide else 48))
    layout.segments.append((vmaddr, filesize, base + fileoff))
    if segname == "__DATA" and layout.data_start is None:
        layout.data_start = (base + fileoff, filesize)
    for i in range(min(nsects, 1024)):
        s = pos + sec_start + i * sec_size
        if s + sec_size > len(cmds):
            break
        name = cmds[s : s + 16].rstrip(b"\0").decode("latin-1")
        if wide:
            addr, size = struct.unpack_from(endian + "QQ", cmds, s + 32)
            (offset,) = struct.unpack_from(endian + "I", cmds, s + 48)
            (flags,) = struct.unpack_from(endian + "I", cmds, s + 64)
        else:
            addr, size, offset = struct.unpack_from(endian + "III", cmds, s + 32)
            (flags,) = struct.unpack_from(endian + "I", cmds, s + 56)
        if flags & 0xFF in _ZEROFILL_TYPES or offset == 0:
            size = 0
        layout.sections.append(ExeSection(name, addr, base + offset, size, segname))


# --- build info -------------------------------------------------------------------------------------------
