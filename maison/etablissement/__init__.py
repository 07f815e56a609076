"""The hospital wing (DESIGN.md §Layout): what a care structure's software runs against the national
services, reaching them only through their protocols."""
