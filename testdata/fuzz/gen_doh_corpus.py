import base64, h2.connection, h2.config, h2.events
PREF=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
def q(i=0x1234):
    return bytes([i>>8,i&255,1,0,0,1,0,0,0,0,0,0,7])+b"example"+bytes([3])+b"com"+bytes([0,0,1,0,1])
def conn():
    c=h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
    c.initiate_connection(); return c
def out(name, c, ctl=0):
    d=c.data_to_send()
    assert d.startswith(PREF)
    open(name,'wb').write(bytes([ctl])+d[len(PREF):])
def hdr(m,p,extra=()):
    return [(':method',m),(':scheme','https'),(':authority','x'),(':path',p)]+list(extra)
b64=base64.urlsafe_b64encode(q()).decode().rstrip('=')
c=conn(); c.send_headers(1,hdr('GET','/dns-query?dns='+b64),end_stream=True); out('get',c)
c=conn(); c.send_headers(1,hdr('GET','/dns-query?a=1&dns='+b64+'=&b'),end_stream=True); out('get_later',c,1)
c=conn(); c.send_headers(1,hdr('POST','/dns-query',[('content-type','application/dns-message'),('content-length','29')])); c.send_data(1,q(),end_stream=True); out('post',c)
c=conn(); c.send_headers(1,hdr('POST','/dns-query')); c.send_data(1,q()[:10]); c.send_data(1,q()[10:],end_stream=True); out('post_nocl_split',c, 2|(3<<2))
c=conn(); c.send_headers(1,hdr('PUT','/dns-query'),end_stream=True); c.send_headers(3,hdr('GET','/x'),end_stream=True); c.send_headers(5,hdr('GET','/dns-query?dns=AAAA'),end_stream=True); out('errors',c)
c=conn()
for i in range(1,40,2): c.send_headers(i,hdr('GET','/dns-query?dns='+b64),end_stream=True)
out('many_never',c,2)
c=conn()
for i in range(1,20,2):
    c.send_headers(i,hdr('GET','/dns-query?dns='+b64)); c.reset_stream(i)
out('rapid_reset',c,1)
c=conn(); c.ping(b'12345678'); c.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:10}); c.increment_flow_control_window(1000); out('ping_settings',c)
c=conn(); c.send_headers(1,hdr('POST','/dns-query',[('content-length','600')])); out('post_413',c,3)
