#include <gtest/gtest.h>

#include "synapse/daemon/control.h"
#include "synapse/daemon/daemon.h"
#include "synapse/dht/node_runtime.h"
#include "synapse/dht/records.h"

namespace synapse::daemon {
namespace {

using core::ErrorCode;
using nlohmann::json;

TEST(ControlProtocol, ParsesRequestWithIdMethodAndParams) {
  auto request = parse_control_request(R"({"id": 7, "method": "dht.get", "params": {"key": "a"}})");
  ASSERT_TRUE(request) << request.error().message();
  EXPECT_EQ(request->id, json(7));
  EXPECT_EQ(request->method, "dht.get");
  EXPECT_EQ(request->params["key"], "a");
}

TEST(ControlProtocol, RequestWithoutParamsGetsAnEmptyObject) {
  auto request = parse_control_request(R"({"method": "status"})");
  ASSERT_TRUE(request);
  EXPECT_TRUE(request->id.is_null());
  EXPECT_TRUE(request->params.is_object());
  EXPECT_TRUE(request->params.empty());
}

TEST(ControlProtocol, RejectsMalformedRequests) {
  for (const char* line : {"", "not json", "[1,2]", R"({"id":1})", R"({"method": 5})",
                           R"({"method": "status", "params": [1]})", R"({"method": "x")"}) {
    auto request = parse_control_request(line);
    ASSERT_FALSE(request) << line;
    EXPECT_EQ(request.error().code(), ErrorCode::kInvalidArgument) << line;
  }
}

TEST(ControlProtocol, ReplyRoundTripsResultsAndErrors) {
  const std::string ok = format_control_reply(json(3), json{{"peers", 4}});
  ASSERT_EQ(ok.back(), '\n');
  EXPECT_EQ(json::parse(ok)["id"], json(3));
  auto result = parse_control_reply(ok.substr(0, ok.size() - 1));
  ASSERT_TRUE(result);
  EXPECT_EQ((*result)["peers"], 4);

  const std::string failed = format_control_reply(
      json("x"), core::Result<json>(core::make_error(ErrorCode::kNotFound, "no such key")));
  auto error = parse_control_reply(failed);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(error.error().message(), "no such key");
}

TEST(ControlProtocol, ReplyWithInvalidUtf8IsStillValidJson) {
  const std::string reply = format_control_reply(json(1), json{{"value", std::string("\xff\xfe")}});
  EXPECT_TRUE(json::accept(reply));
}

TEST(ControlProtocol, MalformedReplyIsAnInternalError) {
  auto result = parse_control_reply("{\"id\": 1}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInternal);
}

TEST(DhtKeyFromText, HexKeysAreTakenAsIs) {
  const std::string hex(64, 'a');
  EXPECT_EQ(dht_key_from_text(hex).to_hex(), hex);
}

TEST(DhtKeyFromText, CidsGiveTheirProviderKey) {
  const std::string text = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  auto cid = crypto::Cid::parse(text);
  ASSERT_TRUE(cid);
  EXPECT_EQ(dht_key_from_text(text), dht::provider_key(*cid));
}

TEST(DhtKeyFromText, OtherTextIsHashed) {
  // SHA-256("hello").
  EXPECT_EQ(dht_key_from_text("hello").to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

TEST(PeerAddressMapping, RoundTripsIpv4AndIpv6Endpoints) {
  for (const char* text : {"10.1.2.3:4747", "127.0.0.1:1", "[::1]:65535", "[fe80::1:2]:80"}) {
    auto endpoint = dht::Endpoint::parse(text);
    ASSERT_TRUE(endpoint) << text;
    const dht::PeerAddress address = dht::to_peer_address(*endpoint);
    EXPECT_EQ(address.size(), endpoint->is_ipv6() ? 18u : 6u);
    auto back = dht::to_endpoint(address);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, *endpoint) << text;
  }
}

TEST(PeerAddressMapping, RejectsAddressesThatAreNotEndpoints) {
  EXPECT_FALSE(dht::to_endpoint(dht::PeerAddress::from_u32(7)));
  EXPECT_FALSE(dht::to_endpoint(dht::PeerAddress()));
}

}  // namespace
}  // namespace synapse::daemon
