//! The service this example protects, `example.orders.v1.Orders`:
//!
//! ```proto
//! syntax = "proto3";
//! package example.orders.v1;
//!
//! service Orders {
//!   // The caller's orders. Needs the role `user`.
//!   rpc ListOrders(ListOrdersRequest) returns (ListOrdersResponse);
//!   // Cancels any order. Needs the role `admin`.
//!   rpc CancelOrder(CancelOrderRequest) returns (CancelOrderResponse);
//! }
//!
//! message Order { string id = 1; string owner = 2; string item = 3; bool cancelled = 4; }
//! message ListOrdersRequest {}
//! message ListOrdersResponse { repeated Order orders = 1; }
//! message CancelOrderRequest { string id = 1; }
//! message CancelOrderResponse { Order order = 1; }
//! ```
//!
//! The messages, the server and the client are written by hand, in the shape
//! `tonic-build` generates, so the example builds without `protoc`. The part
//! to read is [`Orders`]: each method checks its role with
//! [`auth_tower::grpc::RequestClaims`], inside the `AuthLayer` that validated the token.

use std::convert::Infallible;
use std::sync::{Mutex, PoisonError};

use auth_core::RoleClaims;
use auth_tower::grpc::RequestClaims;
use tonic::codegen::{Arc, Body, BoxFuture, Context, Poll, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Channel;
use tonic::{IntoRequest, Request, Response, Status};
use tonic_prost::ProstCodec;

/// The full name of the service: its routes are `/example.orders.v1.Orders/*`.
pub const SERVICE_NAME: &str = "example.orders.v1.Orders";

const LIST_ORDERS: &str = "/example.orders.v1.Orders/ListOrders";
const CANCEL_ORDER: &str = "/example.orders.v1.Orders/CancelOrder";

/// An order.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Order {
    /// Its id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The subject (`sub`) it belongs to.
    #[prost(string, tag = "2")]
    pub owner: String,
    /// What was ordered.
    #[prost(string, tag = "3")]
    pub item: String,
    /// Whether it was cancelled.
    #[prost(bool, tag = "4")]
    pub cancelled: bool,
}

/// `ListOrders` takes nothing: the caller is the token's subject.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ListOrdersRequest {}

/// The caller's orders.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ListOrdersResponse {
    /// Every order whose owner is the caller.
    #[prost(message, repeated, tag = "1")]
    pub orders: Vec<Order>,
}

/// The order to cancel.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelOrderRequest {
    /// Its id.
    #[prost(string, tag = "1")]
    pub id: String,
}

/// The cancelled order.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelOrderResponse {
    /// The order, now cancelled.
    #[prost(message, optional, tag = "1")]
    pub order: Option<Order>,
}

/// The orders, in memory, and the methods of the service.
#[derive(Debug, Default)]
pub struct Orders {
    orders: Mutex<Vec<Order>>,
}

impl Orders {
    /// A few orders of `owner`, to have something to list.
    pub fn demo(owner: &str) -> Self {
        let order = |id: &str, item: &str| Order {
            id: id.to_owned(),
            owner: owner.to_owned(),
            item: item.to_owned(),
            cancelled: false,
        };
        Orders {
            orders: Mutex::new(vec![order("order-1", "tea"), order("order-2", "scones")]),
        }
    }

    /// `ListOrders`: the role `user`; the caller's orders only.
    pub fn list(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let claims = request.require_role::<RoleClaims>("user")?;
        let orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        let orders = orders
            .iter()
            .filter(|o| o.owner == claims.sub)
            .cloned()
            .collect();
        Ok(Response::new(ListOrdersResponse { orders }))
    }

    /// `CancelOrder`: the role `admin`; any order.
    pub fn cancel(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        request.require_role::<RoleClaims>("admin")?;
        let mut orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        let order = orders
            .iter_mut()
            .find(|o| o.id == request.get_ref().id)
            .ok_or_else(|| Status::not_found("no such order"))?;
        order.cancelled = true;
        Ok(Response::new(CancelOrderResponse {
            order: Some(order.clone()),
        }))
    }
}

/// The gRPC server of [`Orders`]: a tower `Service` that tonic routes by its
/// [`NamedService::NAME`].
#[derive(Debug, Clone)]
pub struct OrdersServer {
    orders: Arc<Orders>,
}

impl OrdersServer {
    /// Serves `orders`.
    pub fn new(orders: Orders) -> Self {
        OrdersServer {
            orders: Arc::new(orders),
        }
    }
}

impl NamedService for OrdersServer {
    const NAME: &'static str = SERVICE_NAME;
}

/// One method of [`Orders`].
type Method<Req, Res> = fn(&Orders, Request<Req>) -> Result<Response<Res>, Status>;

/// A method of [`Orders`] as tonic's unary service.
struct Unary<Req, Res> {
    orders: Arc<Orders>,
    method: Method<Req, Res>,
}

impl<Req, Res> UnaryService<Req> for Unary<Req, Res> {
    type Response = Res;
    type Future = std::future::Ready<Result<Response<Res>, Status>>;

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        std::future::ready((self.method)(&self.orders, request))
    }
}

/// Decodes the request, calls `method`, encodes its answer.
fn unary<Req, Res, B>(
    orders: Arc<Orders>,
    method: Method<Req, Res>,
    req: http::Request<B>,
) -> BoxFuture<http::Response<tonic::body::Body>, Infallible>
where
    Req: prost::Message + Default + Send + 'static,
    Res: prost::Message + Send + 'static,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = Grpc::new(ProstCodec::<Res, Req>::default());
        Ok(grpc.unary(Unary { orders, method }, req).await)
    })
}

impl<B> Service<http::Request<B>> for OrdersServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let orders = self.orders.clone();
        match req.uri().path() {
            LIST_ORDERS => unary(orders, Orders::list, req),
            CANCEL_ORDER => unary(orders, Orders::cancel, req),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// A client of the orders service.
#[derive(Debug, Clone)]
pub struct OrdersClient {
    inner: tonic::client::Grpc<Channel>,
}

impl OrdersClient {
    /// A client on `channel`.
    pub fn new(channel: Channel) -> Self {
        OrdersClient {
            inner: tonic::client::Grpc::new(channel),
        }
    }

    /// Calls `ListOrders`.
    pub async fn list_orders(
        &mut self,
        request: impl IntoRequest<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        self.unary(request.into_request(), LIST_ORDERS).await
    }

    /// Calls `CancelOrder`.
    pub async fn cancel_order(
        &mut self,
        request: impl IntoRequest<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        self.unary(request.into_request(), CANCEL_ORDER).await
    }

    async fn unary<Req, Res>(
        &mut self,
        request: Request<Req>,
        path: &'static str,
    ) -> Result<Response<Res>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Res: prost::Message + Default + Send + Sync + 'static,
    {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("the channel is not ready: {e}")))?;
        let path = http::uri::PathAndQuery::from_static(path);
        self.inner
            .unary(request, path, ProstCodec::<Req, Res>::default())
            .await
    }
}
