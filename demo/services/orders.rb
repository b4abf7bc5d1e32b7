# SPDX-License-Identifier: Apache-2.0
# The demo's orders service (Ruby, WEBrick: a thread per request): GET /orders?user=N
# reads the user's orders from PostgreSQL with a parameterised query, on the request's own
# thread, over a connection taken from a small pool (WEBrick starts a thread per client
# connection, so per-thread connections would leak). No tracing code.
require 'json'
require 'pg'
require 'webrick'

host, port, pg_host, pg_port = ARGV
server = WEBrick::HTTPServer.new(BindAddress: host, Port: port.to_i, MaxClients: 256,
                                 Logger: WEBrick::Log.new(nil, 0), AccessLog: [])
pool = Queue.new
8.times do
  pool << PG.connect(host: pg_host, port: pg_port.to_i, user: 'postgres', dbname: 'postgres')
end
server.mount_proc '/orders' do |req, res|
  user = req.query['user'].to_i
  db = pool.pop
  begin
    rows = db.exec_params('SELECT id, total FROM orders WHERE user_id = $1 ORDER BY id', [user])
  ensure
    pool << db
  end
  res['Content-Type'] = 'application/json'
  res.body = JSON.generate(orders: rows.map { |r| { id: r['id'].to_i, total: r['total'] } })
end
trap('TERM') { server.shutdown }
server.start
