//! AWS: `Retry-After` of a throttling answer is honoured. moto cannot throttle, so a tiny
//! HTTP proxy in this test stands in front of it (as a throttling gateway would): it answers
//! the first CreateSecret of two secrets with 429 `ThrottlingException` and `Retry-After: 2`,
//! and forwards everything else to moto. The proxy's own log (arrival times, no test clock)
//! shows when each throttled secret was tried again.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RETRY_AFTER_SECS: u64 = 2;
const THROTTLED: usize = 2;

#[derive(Clone, Debug)]
struct Logged {
    at: Instant,
    target: String,
    name: String,
    status: u16,
}

#[derive(Default)]
struct Proxy {
    log: Mutex<Vec<Logged>>,
    throttled: Mutex<Vec<String>>,
}

async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((request_line, headers, body))
}

async fn respond(stream: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

async fn serve(proxy: Arc<Proxy>, mut stream: TcpStream, moto: String, http: reqwest::Client) {
    let Some((request_line, headers, body)) = read_request(&mut stream).await else {
        return;
    };
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let target = header("x-amz-target");
    let name = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["Name"]
                .as_str()
                .or(v["SecretId"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let throttle = target.ends_with(".CreateSecret") && {
        let mut t = proxy.throttled.lock().unwrap();
        if t.len() < THROTTLED && !t.contains(&name) {
            t.push(name.clone());
            true
        } else {
            false
        }
    };
    let status = if throttle {
        respond(
            &mut stream,
            429,
            &[
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("x-amzn-errortype".into(), "ThrottlingException".into()),
                ("retry-after".into(), RETRY_AFTER_SECS.to_string()),
            ],
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
        .await;
        429
    } else {
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        let method = request_line.split(' ').next().unwrap_or("POST");
        let mut req = http.request(method.parse().unwrap(), format!("{moto}{path}"));
        for (k, v) in &headers {
            if !matches!(
                k.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                req = req.header(k, v);
            }
        }
        let rsp = req.body(body).send().await.expect("moto answers");
        let status = rsp.status().as_u16();
        let mut out_headers = Vec::new();
        for (k, v) in rsp.headers() {
            if !matches!(
                k.as_str(),
                "content-length" | "connection" | "transfer-encoding"
            ) {
                out_headers.push((k.to_string(), v.to_str().unwrap_or("").to_string()));
            }
        }
        let bytes = rsp.bytes().await.unwrap();
        respond(&mut stream, status, &out_headers, &bytes).await;
        status
    };
    proxy.log.lock().unwrap().push(Logged {
        at,
        target,
        name,
        status,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_retry_after_of_a_throttling_answer_is_honoured() {
    let moto = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("CARACAL_TESTBED_MOTO_URL"))
        .expect("AWS_ENDPOINT_URL: run scripts/testbed up and eval \"$(scripts/testbed env)\"")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let proxy = Arc::new(Proxy::default());
    let http = reqwest::Client::new();
    {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(proxy.clone(), stream, moto.clone(), http.clone()));
            }
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let mut answers = support::bed_answers("aws");
    answers.secret_manager.prefix = support::unique("ra");
    answers.secret_manager.endpoint = Some(url.clone());
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(&path)
        .env("AWS_ENDPOINT_URL", &url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("13 written"), "{stdout}");

    let log = proxy.log.lock().unwrap().clone();
    let throttled: Vec<&Logged> = log.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), THROTTLED, "{log:?}");
    for t in throttled {
        let retry = log
            .iter()
            .filter(|r| r.target == t.target && r.name == t.name && r.at > t.at)
            .min_by_key(|r| r.at)
            .unwrap_or_else(|| panic!("{} was never retried: {log:?}", t.name));
        let waited = retry.at - t.at;
        assert!(
            waited >= Duration::from_secs(RETRY_AFTER_SECS),
            "{}: retried {waited:?} after a 429 that asked for {RETRY_AFTER_SECS}s",
            t.name
        );
        assert!(retry.status < 300, "{retry:?}");
    }
}
