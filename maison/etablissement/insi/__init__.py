"""INSi as a structure's software calls it: SOAP over HTTP(S) with the structure's certificate, and
the first-name retry rule."""
