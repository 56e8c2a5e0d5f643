//! A Rust client of the local WebSocket, used by the tests and native tools.

use crate::error::WsError;
use crate::protocol::{
    ClientMessage, ConnectionInfo, ServerMessage, PROTOCOL, TOKEN_PROTOCOL_PREFIX,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Headers a client sends with its upgrade request; the defaults are a native client's.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// The token to present; `None` presents none.
    pub token: Option<String>,
    /// The Origin header; native clients send none.
    pub origin: Option<String>,
    /// Overrides the Host header (to test DNS-rebinding defences).
    pub host: Option<String>,
}

/// One open connection to the server.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects as a native client with the token from `info`.
    pub async fn connect(info: &ConnectionInfo) -> Result<Self, WsError> {
        let handshake = Handshake {
            token: Some(info.token.clone()),
            ..Handshake::default()
        };
        Self::connect_with(&info.url, &handshake).await
    }

    /// Connects with exactly the given handshake headers.
    pub async fn connect_with(url: &str, handshake: &Handshake) -> Result<Self, WsError> {
        let mut request = url.into_client_request()?;
        let mut protocols = PROTOCOL.to_owned();
        if let Some(token) = &handshake.token {
            protocols = format!("{protocols}, {TOKEN_PROTOCOL_PREFIX}{token}");
        }
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", header_value(&protocols)?);
        if let Some(origin) = &handshake.origin {
            headers.insert("origin", header_value(origin)?);
        }
        if let Some(host) = &handshake.host {
            headers.insert("host", header_value(host)?);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(WsError::Refused {
                status: response.status().as_u16(),
                reason: response
                    .body()
                    .as_ref()
                    .map(|body| String::from_utf8_lossy(body).into_owned())
                    .unwrap_or_default(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), WsError> {
        self.send_raw(Message::text(serde_json::to_string(message)?))
            .await
    }

    /// Sends one frame as it is, valid or not.
    pub async fn send_raw(&mut self, frame: Message) -> Result<(), WsError> {
        self.socket.send(frame).await?;
        Ok(())
    }

    /// Waits for the next server message.
    pub async fn next_message(&mut self) -> Result<ServerMessage, WsError> {
        loop {
            match self.socket.next().await {
                None => return Err(WsError::Closed(None)),
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
                Some(Ok(Message::Close(frame))) => {
                    return Err(WsError::Closed(
                        frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Closes the connection cleanly (close frame, then waits for the server's).
    pub async fn close(mut self) -> Result<(), WsError> {
        self.socket.close(None).await?;
        while let Some(frame) = self.socket.next().await {
            if frame.is_err() {
                break;
            }
        }
        Ok(())
    }
}

fn header_value(value: &str) -> Result<HeaderValue, WsError> {
    HeaderValue::from_str(value).map_err(|e| {
        WsError::Connection(tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))
    })
}
