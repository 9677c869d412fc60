// The control socket: the libuv server and the blocking client, in one process (the loop runs
// on its own thread; the test thread is the client).
#include "control_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <future>
#include <thread>

#include "test_util.h"

namespace synapse::daemon {
namespace {

using nlohmann::json;

// A ControlServer on a loop thread. Methods: "echo" answers its params at once; "later"
// answers after `params.ms` milliseconds; "fail" answers an error.
class ServerThread {
 public:
  explicit ServerThread(std::filesystem::path path) : path_(std::move(path)) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
      auto* self = static_cast<ServerThread*>(async->data);
      self->server_->close(
          [self] { uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr); });
    });
    stop_.data = this;
    auto server = ControlServer::create(
        &loop_, path_, [this](const ControlRequest& request, ControlServer::Reply reply) {
          handle(request, std::move(reply));
        });
    if (!server) std::abort();
    server_ = std::move(*server);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }

 private:
  struct Delayed {
    uv_timer_t timer;
    ControlServer::Reply reply;
    json result;
  };

  void handle(const ControlRequest& request, ControlServer::Reply reply) {
    if (request.method == "echo") {
      reply(request.params);
    } else if (request.method == "later") {
      auto* delayed = new Delayed{{}, std::move(reply), request.params};
      uv_timer_init(&loop_, &delayed->timer);
      delayed->timer.data = delayed;
      uv_timer_start(
          &delayed->timer,
          [](uv_timer_t* timer) {
            auto* delayed = static_cast<Delayed*>(timer->data);
            delayed->reply(delayed->result);
            uv_close(reinterpret_cast<uv_handle_t*>(timer),
                     [](uv_handle_t* handle) { delete static_cast<Delayed*>(handle->data); });
          },
          request.params.value("ms", 0), 0);
    } else {
      reply(core::make_error(core::ErrorCode::kNotFound, "no such method"));
    }
  }

  std::filesystem::path path_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
};

int connect_raw(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) std::abort();
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

std::string read_lines(int fd, size_t count) {
  std::string text;
  char buffer[4096];
  while (std::count(text.begin(), text.end(), '\n') < static_cast<long>(count)) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

TEST(ControlServer, AnswersRequestsThroughTheClient) {
  testing::TempDir dir;
  ServerThread server(dir / "control.sock");
  auto client = ControlClient::connect(dir / "control.sock");
  ASSERT_TRUE(client) << client.error().message();
  auto echoed = client->call("echo", {{"x", 1}});
  ASSERT_TRUE(echoed) << echoed.error().message();
  EXPECT_EQ((*echoed)["x"], 1);
  auto failed = client->call("nope");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), core::ErrorCode::kNotFound);
  EXPECT_EQ(failed.error().message(), "no such method");
}

TEST(ControlServer, SocketIsPrivateToItsOwner) {
  testing::TempDir dir;
  ServerThread server(dir / "control.sock");
  struct stat info {};
  ASSERT_EQ(::stat((dir / "control.sock").c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(ControlServer, RepliesComeInRequestOrderWhenAnswersFinishOutOfOrder) {
  testing::TempDir dir;
  ServerThread server(dir / "control.sock");
  const int fd = connect_raw(dir / "control.sock");
  const std::string requests = R"({"id":1,"method":"later","params":{"ms":60,"n":1}})"
                               "\n"
                               R"({"id":2,"method":"echo","params":{"n":2}})"
                               "\n"
                               "this is not json\n"
                               R"({"id":4,"method":"later","params":{"ms":10,"n":4}})"
                               "\n";
  ASSERT_EQ(::send(fd, requests.data(), requests.size(), 0), static_cast<ssize_t>(requests.size()));
  const std::string replies = read_lines(fd, 4);
  ::close(fd);
  std::vector<json> parsed;
  for (size_t start = 0, end; (end = replies.find('\n', start)) != std::string::npos;
       start = end + 1) {
    parsed.push_back(json::parse(replies.substr(start, end - start)));
  }
  ASSERT_EQ(parsed.size(), 4u) << replies;
  EXPECT_EQ(parsed[0]["result"]["n"], 1);
  EXPECT_EQ(parsed[1]["result"]["n"], 2);
  EXPECT_FALSE(parsed[2]["ok"].get<bool>());
  EXPECT_EQ(parsed[2]["error"]["code"], "invalid-argument");
  EXPECT_EQ(parsed[3]["result"]["n"], 4);
}

TEST(ControlServer, ClientThatLeavesBeforeItsReplyDoesNotDisturbOthers) {
  testing::TempDir dir;
  ServerThread server(dir / "control.sock");
  {
    const int fd = connect_raw(dir / "control.sock");
    const std::string request = R"({"id":1,"method":"later","params":{"ms":30}})"
                                "\n";
    ASSERT_GT(::send(fd, request.data(), request.size(), 0), 0);
    ::close(fd);
  }
  auto client = ControlClient::connect(dir / "control.sock");
  ASSERT_TRUE(client);
  auto later = client->call("later", {{"ms", 60}, {"ok", true}});
  ASSERT_TRUE(later) << later.error().message();
  EXPECT_TRUE((*later)["ok"].get<bool>());
}

TEST(ControlServer, ClosingRemovesTheSocketFile) {
  testing::TempDir dir;
  { ServerThread server(dir / "control.sock"); }
  EXPECT_FALSE(std::filesystem::exists(dir / "control.sock"));
  auto client = ControlClient::connect(dir / "control.sock");
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), core::ErrorCode::kNotFound);
}

TEST(ControlClient, TimesOutWhenTheServerDoesNotAnswer) {
  testing::TempDir dir;
  ServerThread server(dir / "control.sock");
  auto client = ControlClient::connect(dir / "control.sock");
  ASSERT_TRUE(client);
  auto result = client->call("later", {{"ms", 300}}, std::chrono::milliseconds(50));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), core::ErrorCode::kIo);
}

}  // namespace
}  // namespace synapse::daemon
