// dmemfuzz-agent: PID 1 of the test initramfs. Mounts the filesystems, enables the dmem
// controller, loads vgem/vkms (libkmod), then serves the line protocol on the `dmemfuzz`
// virtio-serial port (AgentProtocol). `--stdio` serves stdin/stdout without any setup
// (host-side testing). Everything but this entry point is AgentCore, which `swift test` tests.
import Glibc
import AgentCore

let isInit = getpid() == 1
let stdioMode = CommandLine.arguments.contains("--stdio")
signal(SIGPIPE, SIG_IGN)

let kmod = Kmod()
let boot = isInit ? Boot.setUp(kmod: kmod) : BootReport()
var inFd: Int32 = 0, outFd: Int32 = 1
if !stdioMode {
    let fd = Boot.openPort()
    if fd >= 0 { inFd = fd; outFd = fd }
}
Agent(kmod: kmod, boot: boot, isInit: isInit, outFd: outFd).serve(LineReader(fd: inFd))
