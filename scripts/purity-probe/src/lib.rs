pub fn clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

pub fn file() -> std::io::Result<Vec<u8>> {
    std::fs::read("/etc/hostname")
}

pub fn open() -> std::io::Result<std::fs::File> {
    std::fs::File::open("/etc/hostname")
}

pub fn socket() -> std::io::Result<std::net::TcpStream> {
    std::net::TcpStream::connect("127.0.0.1:9")
}

pub fn thread() {
    std::thread::spawn(|| {});
}

pub fn environment() -> Option<String> {
    std::env::var("HOME").ok()
}
